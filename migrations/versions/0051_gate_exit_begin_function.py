"""Gate exit, first round trip: a PL/pgSQL function (issue 14.2/14.3).

Inserts the exit event (idempotent on its id), takes the per-plate lock and returns the plate's open session
in the lot, locked ``FOR UPDATE`` (the exact match; the confusable-tolerant match stays in Python and runs only
when there is no exact one). Replaces three round trips and an ORM entity load per exit.

Revision ID: 0051
Revises: 0050
"""

from __future__ import annotations

from alembic import op

revision = "0051"
down_revision = "0050"
branch_labels = None
depends_on = None

FUNCTION = """
CREATE OR REPLACE FUNCTION gate_exit_begin(
    p_event_id uuid,
    p_lane_id uuid,
    p_lot_id uuid,
    p_plate_read text,
    p_plate text,
    p_confidence double precision,
    p_vclass text,
    p_captured_at timestamptz,
    p_offline_action text,
    p_request_hash text,
    p_has_image boolean,
    p_find boolean
) RETURNS TABLE (
    inserted boolean,
    s_id uuid,
    s_plate text,
    s_vehicle_class text,
    s_entry_at timestamptz,
    s_flags text[],
    s_review_status text,
    s_review_reason text
) LANGUAGE plpgsql AS $fn$
DECLARE
    v_id uuid;
BEGIN
    INSERT INTO gate_events (id, lane_id, lot_id, kind, plate_read, plate, confidence, vehicle_class, captured_at,
                             offline_action, request_hash, has_image)
    VALUES (p_event_id, p_lane_id, p_lot_id, 'exit', p_plate_read, p_plate, p_confidence, p_vclass, p_captured_at,
            p_offline_action, p_request_hash, p_has_image)
    ON CONFLICT (id) DO NOTHING
    RETURNING gate_events.id INTO v_id;
    inserted := v_id IS NOT NULL;
    IF NOT inserted THEN  -- a replay: the caller answers from the stored decision
        RETURN NEXT;
        RETURN;
    END IF;
    IF p_plate IS NOT NULL THEN
        -- Serialise the events of one plate in one lot (same key as parking.gate.repository.lock_plate).
        PERFORM pg_advisory_xact_lock(hashtextextended(p_lot_id::text || ':' || p_plate, 0));
        IF p_find THEN
            SELECT s.id, s.plate, s.vehicle_class, s.entry_at, s.flags, s.review_status, s.review_reason
              INTO s_id, s_plate, s_vehicle_class, s_entry_at, s_flags, s_review_status, s_review_reason
              FROM parking_sessions s
             WHERE s.lot_id = p_lot_id AND s.plate = p_plate AND s.status = 'open'
               FOR UPDATE;
        END IF;
    END IF;
    RETURN NEXT;
END
$fn$;
"""


def upgrade() -> None:
    op.execute(FUNCTION)


def downgrade() -> None:
    op.execute(
        "DROP FUNCTION IF EXISTS gate_exit_begin(uuid, uuid, uuid, text, text, double precision, text, timestamptz, "
        "text, text, boolean, boolean)"
    )
