"""``klaviyo-analytics simulator``: serve the local Klaviyo simulator or print its ground truth."""

from __future__ import annotations

import sys
from datetime import datetime

import orjson
import typer

from klaviyo_analytics.errors import UsageError

app = typer.Typer(
    help="A local Klaviyo API simulator with synthetic stores (for the demo, tests, benchmarks).",
    no_args_is_help=True,
)


def _parse_when(value: str | None, option: str) -> datetime | None:
    if value is None:
        return None
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(f"{option}: {value!r} is not an ISO-8601 datetime") from None
    if when.tzinfo is None:
        raise UsageError(f"{option}: give a timezone, e.g. {value}+00:00")
    return when


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", help="Loopback interface to bind."),
    port: int = typer.Option(8765, help="TCP port (0 picks a free one)."),
    seed: int = typer.Option(42, help="Seed of the synthetic stores."),
    scale: str = typer.Option("tiny", help="tiny | small | medium | large | <orders>."),
    accounts: int = typer.Option(1, help="Number of Klaviyo accounts."),
    rate_limits: str = typer.Option("off", "--rate-limits", help="realistic | off."),
    faults: str = typer.Option("", help='Fault spec, e.g. "429=0.1,5xx=0.05,seed=7".'),
    time_scale: float = typer.Option(1.0, "--time-scale", help="Factor on rate-limit windows."),
    now: str | None = typer.Option(None, help="Clock start (ISO, default today 00:00 UTC)."),
    json_output: bool = typer.Option(False, "--json", help="Print one JSON line for scripts."),
) -> None:
    """Serve the simulated Klaviyo API until interrupted."""
    from klaviyo_analytics.simulator import FaultSpec, SimulatorConfig, SimulatorServer

    if rate_limits not in ("realistic", "off"):
        raise UsageError(f"--rate-limits must be realistic or off, not {rate_limits!r}")
    config = SimulatorConfig(
        seed=seed,
        scale=scale,
        accounts=accounts,
        rate_limits="realistic" if rate_limits == "realistic" else "off",
        faults=FaultSpec.parse(faults),
        time_scale=time_scale,
        now=_parse_when(now, "--now"),
        host=host,
        port=port,
    )
    server = SimulatorServer(config).start()
    if json_output:
        doc = {
            "base_url": server.base_url,
            "accounts": [
                {
                    "public_id": a.public_id,
                    "api_key": a.api_key,
                    "oauth_client_id": a.oauth_client_id,
                    "oauth_client_secret": a.oauth_client_secret,
                    "refresh_token": a.refresh_token,
                    "timezone": a.timezone,
                }
                for a in server.accounts
            ],
        }
        sys.stdout.write(orjson.dumps(doc).decode() + "\n")
    else:
        print(f"Klaviyo simulator serving {server.base_url} (revision 2026-07-15)")
        for a in server.accounts:
            print(f"  account {a.public_id} ({a.timezone})")
            print(f"    api key        {a.api_key}")
            print(f"    oauth client   {a.oauth_client_id}")
            print(f"    client secret  {a.oauth_client_secret}")
            print(f"    refresh token  {a.refresh_token}")
        print("Press Ctrl+C to stop.")
    sys.stdout.flush()
    server.serve_forever()


@app.command()
def truth(
    seed: int = typer.Option(42, help="Seed of the synthetic stores."),
    scale: str = typer.Option("tiny", help="tiny | small | medium | large | <orders>."),
    account: int = typer.Option(0, help="Account index (0-based)."),
    now: str | None = typer.Option(None, help="The simulator's clock start (ISO)."),
    as_of: str | None = typer.Option(None, "--as-of", help="Cut-off time (ISO, default now)."),
    json_output: bool = typer.Option(False, "--json", help="Print the full truth as JSON."),
) -> None:
    """Print the ground truth a correct sync of one account must produce."""
    from klaviyo_analytics.simulator import ground_truth
    from klaviyo_analytics.simulator.config import parse_scale

    parse_scale(scale)
    if account < 0:
        raise UsageError("--account must not be negative")
    result = ground_truth(
        seed=seed,
        scale=scale,
        account_index=account,
        as_of=_parse_when(as_of, "--as-of"),
        now=_parse_when(now, "--now"),
    )
    if json_output:
        sys.stdout.write(orjson.dumps(result.to_dict()).decode() + "\n")
        return
    print(f"account {result.public_id} ({result.timezone}) as of {result.as_of.isoformat()}")
    print(f"  orders          {result.orders}  value {result.order_value}")
    print(f"  line items      {result.line_items}  quantity {result.quantity}")
    print(f"  refunds         {result.refunds}  amount {result.refund_amount}")
    print(f"  cancellations   {result.cancellations}  amount {result.cancellation_amount}")
    print(f"  customers       {result.customers}")
    print(f"  campaign rows   {len(result.campaigns)}  flow rows {len(result.flows)}")
    print(f"  form rows       {len(result.forms)}  segment rows {len(result.segments)}")
