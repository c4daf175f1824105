"""Fee quotes over HTTP (kiosks, drivers): what-if quotes and the fee so far of an open session.
The arithmetic is the pure engine in parking.pricing; this package only adds I/O around it."""
