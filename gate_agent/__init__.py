"""gate_agent: the lane process (camera -> plate -> event -> barrier + kiosk).

Never imports ``parking``. Heavy plate-reading dependencies live in ``gate_agent.reading``
and the optional ``gate`` extra; nothing here imports them at module load.
"""

__version__ = "0.1.0"
