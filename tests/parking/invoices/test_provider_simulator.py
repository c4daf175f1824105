"""The provider adapter against the simulator running as a real HTTP service."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from parking.invoices import codes, signing
from parking.invoices import xml as X
from parking.invoices.provider import ProviderClient, TransientProviderError
from tests.parking.invoices.conftest import run_simulator


def signed_envelope(creds: signing.Credentials, seq: int, total: int = 25_000, mtdiep: str | None = None) -> bytes:
    doc = X.InvoiceDoc(
        template=1,
        symbol="C26MAA",
        number=seq,
        issued_at=datetime(2026, 11, 22, 8, 0, tzinfo=UTC),
        mccqt=codes.format_mccqt(1, 2026, "SIM01", seq),
        seller=X.Party("Công ty CP Trông giữ xe Hà Nội", "0101234567", "1 Lý Thái Tổ, Hà Nội"),
        lines=[X.Line("Dịch vụ trông giữ xe", "lượt", total, 800)],
    )
    # As transmitted: the seller's signature inside HDon (DSCKS/NBan), then the envelope's.
    hdon = signing.sign_hdon(X.build_hdon(doc), creds)
    env = X.build_tdiep(hdon, mngui="V0107001729001", mst="0101234567", mtdiep=mtdiep)
    return X.to_bytes(signing.sign_tdiep(env, creds))


@pytest.fixture
def sim(einvoice_sim: Any) -> Any:
    einvoice_sim.reset()
    return einvoice_sim


async def test_accepts_a_signed_invoice_once(sim: Any, operator_creds: signing.Credentials) -> None:
    client = ProviderClient(sim.url)
    wire = signed_envelope(operator_creds, 1)
    first = await client.submit(wire)
    again = await client.submit(wire)  # a retry of the same message
    assert first.accepted and not first.duplicate
    assert again.accepted and again.duplicate
    got = sim.received()
    assert [i["mccqt"] for i in got["invoices"]] == ["M1-26-SIM01-00000000001"]
    assert got["invoices"][0]["deliveries"] == 2 and got["attempts"] == 2
    assert got["invoices"][0]["total_vnd"] == 25_000


async def test_rejects_foreign_signature_and_tampering(
    sim: Any, operator_creds: signing.Credentials, make_creds: Callable[[], signing.Credentials]
) -> None:
    client = ProviderClient(sim.url)
    foreign = await client.submit(signed_envelope(make_creds(), 2))
    assert not foreign.accepted and foreign.code == "invalid_signature"
    tampered = signed_envelope(operator_creds, 3).replace(b">25000<", b">20000<")
    answer = await client.submit(tampered)
    assert not answer.accepted and answer.code == "invalid_signature"
    assert sim.received()["invoices"] == []


async def test_same_code_other_content_is_a_conflict(sim: Any, operator_creds: signing.Credentials) -> None:
    client = ProviderClient(sim.url)
    assert (await client.submit(signed_envelope(operator_creds, 4, 25_000))).accepted
    clash = await client.submit(signed_envelope(operator_creds, 4, 30_000))
    assert not clash.accepted and clash.code == "duplicate_mccqt"


async def test_injected_faults(sim: Any, operator_creds: signing.Credentials) -> None:
    client = ProviderClient(sim.url, timeout_s=0.5)
    wire = signed_envelope(operator_creds, 5)
    sim.fault("http_500")
    with pytest.raises(TransientProviderError, match="500"):
        await client.submit(wire)
    sim.fault("reject")
    rejected = await client.submit(wire)
    assert not rejected.accepted and rejected.code == "simulated_rejection"
    sim.fault("timeout", delay_s=2.0)
    with pytest.raises(TransientProviderError, match="Timeout"):
        await client.submit(wire)
    # the timed-out delivery was recorded; the retry is recognised, not a second invoice
    retry = await client.submit(wire)
    assert retry.accepted and retry.duplicate
    assert len(sim.received()["invoices"]) == 1


async def test_malformed_and_invalid_xml_rejected(sim: Any) -> None:
    client = ProviderClient(sim.url)
    assert (await client.submit(b"<TDiep><oops")).code == "malformed_xml"
    assert (await client.submit(b"<TDiep/>")).code == "schema_invalid"


@pytest.fixture
def cert_dir_sim(tmp_path: Path) -> Iterator[tuple[Any, Path]]:
    with run_simulator("--cert-dir", str(tmp_path)) as sim:
        yield sim, tmp_path


async def test_cert_dir_is_read_at_each_request(
    cert_dir_sim: tuple[Any, Path], operator_creds: signing.Credentials
) -> None:
    """The demo mints operator certificates after the simulator has started (--cert-dir)."""
    sim, folder = cert_dir_sim
    client = ProviderClient(sim.url)
    wire = signed_envelope(operator_creds, 9)
    assert (await client.submit(wire)).code == "invalid_signature"
    (folder / "OP.crt.pem").write_bytes(operator_creds.cert_pem)
    assert (await client.submit(wire)).accepted
