"""Gate entry in one round trip: a PL/pgSQL function (issue 14.2/14.3).

The entry's statements (idempotent event insert, per-plate lock, vehicle, missed-exit close, capacity guard,
session insert, audit row, the plate's open debts) run inside PostgreSQL in one call instead of ~9 round trips
each built by SQLAlchemy. The rules are the ones of ``parking.sessions.service`` / ``parking.occupancy.service``
(same lock order: vehicles -> parking_sessions -> lot_capacities); ``parking.gate.repository.entry`` calls it.
Functions are not part of SQLAlchemy's metadata, so the models/migrations drift check is unaffected.

Revision ID: 0050
Revises: 0044
"""

from __future__ import annotations

from alembic import op

revision = "0050"
down_revision = "0044"
branch_labels = None
depends_on = None

FUNCTION = """
CREATE OR REPLACE FUNCTION gate_entry(
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
    p_proceed boolean,
    p_flags_before text[],
    p_flags_after text[],
    p_actor text
) RETURNS TABLE (
    inserted boolean,
    outcome text,
    stale_class text,
    capacity integer,
    session_id uuid,
    flags text[],
    debt_total bigint,
    debt_count integer
) LANGUAGE plpgsql AS $fn$
DECLARE
    v_id uuid;
    v_flags text[] := coalesce(p_flags_before, '{}');
BEGIN
    INSERT INTO gate_events (id, lane_id, lot_id, kind, plate_read, plate, confidence, vehicle_class, captured_at,
                             offline_action, request_hash, has_image)
    VALUES (p_event_id, p_lane_id, p_lot_id, 'entry', p_plate_read, p_plate, p_confidence, p_vclass, p_captured_at,
            p_offline_action, p_request_hash, p_has_image)
    ON CONFLICT (id) DO NOTHING
    RETURNING gate_events.id INTO v_id;
    IF v_id IS NULL THEN  -- a replay: the caller answers from the stored decision
        inserted := false;
        RETURN NEXT;
        RETURN;
    END IF;
    inserted := true;
    IF p_plate IS NOT NULL THEN
        -- Serialise the events of one plate in one lot (same key as parking.gate.repository.lock_plate).
        PERFORM pg_advisory_xact_lock(hashtextextended(p_lot_id::text || ':' || p_plate, 0));
    END IF;
    IF NOT p_proceed THEN  -- unreadable plate at an online lane: the attendant decides
        outcome := 'skipped';
        RETURN NEXT;
        RETURN;
    END IF;
    IF p_plate IS NOT NULL THEN
        INSERT INTO vehicles (id, plate, vehicle_class) VALUES (gen_random_uuid(), p_plate, p_vclass)
        ON CONFLICT DO NOTHING;
        -- A plate already inside means its exit was missed: close that stay for review, never block the gate.
        UPDATE parking_sessions s
           SET status = 'closed', flags = array_append(s.flags, 'exit_missing'), review_status = 'pending',
               review_reason = 're-entered without an exit', updated_at = now()
         WHERE s.lot_id = p_lot_id AND s.plate = p_plate AND s.status = 'open'
        RETURNING s.vehicle_class INTO stale_class;
        IF stale_class IS NOT NULL THEN
            v_flags := v_flags || 'previous_stay_without_exit'::text;
            UPDATE lot_capacities c SET occupied = greatest(c.occupied - 1, 0)
             WHERE c.lot_id = p_lot_id AND c.vehicle_class = stale_class;
        END IF;
    END IF;
    -- Occupancy guard: the conditional update is the lot's capacity check.
    UPDATE lot_capacities c SET occupied = c.occupied + 1
     WHERE c.lot_id = p_lot_id AND c.vehicle_class = p_vclass AND c.occupied < c.capacity
    RETURNING c.capacity INTO capacity;
    IF NOT FOUND THEN
        SELECT c.capacity INTO capacity FROM lot_capacities c WHERE c.lot_id = p_lot_id AND c.vehicle_class = p_vclass;
        IF NOT FOUND THEN
            outcome := 'not_served';
            RETURN NEXT;
            RETURN;
        END IF;
        IF p_offline_action IS NULL THEN
            outcome := 'full';
            flags := v_flags;
            RETURN NEXT;
            RETURN;
        END IF;
        -- The car is already inside (the lane opened offline): record the fact even above capacity.
        UPDATE lot_capacities c SET occupied = c.occupied + 1 WHERE c.lot_id = p_lot_id AND c.vehicle_class = p_vclass;
        v_flags := v_flags || 'over_capacity'::text;
    END IF;
    v_flags := v_flags || coalesce(p_flags_after, '{}');
    session_id := gen_random_uuid();
    INSERT INTO parking_sessions (id, lot_id, vehicle_class, plate, status, entry_event_id, entry_at, flags,
                                  review_status)
    VALUES (session_id, p_lot_id, p_vclass, p_plate, 'open', p_event_id, p_captured_at, v_flags,
            CASE WHEN 'plate_unreadable' = ANY (v_flags) THEN 'pending' ELSE 'none' END);
    INSERT INTO audit_log (actor, action, entity, entity_id, data)
    VALUES (p_actor, 'session.open', 'parking_session', session_id::text,
            jsonb_build_object('plate', p_plate, 'event_id', p_event_id::text));
    IF p_plate IS NOT NULL THEN
        SELECT coalesce(sum(d.amount_vnd), 0), count(*) INTO debt_total, debt_count
          FROM debts d WHERE d.plate = p_plate AND d.status = 'open';
    END IF;
    outcome := 'open';
    flags := v_flags;
    RETURN NEXT;
END
$fn$;
"""


def upgrade() -> None:
    op.execute(FUNCTION)


def downgrade() -> None:
    op.execute(
        "DROP FUNCTION IF EXISTS gate_entry(uuid, uuid, uuid, text, text, double precision, text, timestamptz, text, "
        "text, boolean, boolean, text[], text[], text)"
    )
