"""Run the simulator under uvicorn in a background thread on loopback.

``with SimulatorServer(config) as sim:`` starts the server on a free port (port 0) and stops it on
exit; tests and the demo use exactly the same server.
"""

from __future__ import annotations

import socket
import threading
import time
from datetime import datetime
from types import TracebackType

import uvicorn

from klaviyo_analytics.simulator.app import RequestLogEntry, SimulatorApp
from klaviyo_analytics.simulator.auth import AccountCredentials
from klaviyo_analytics.simulator.clock import SimClock
from klaviyo_analytics.simulator.config import FaultSpec, SimulatorConfig
from klaviyo_analytics.simulator.errors import SimulatorError
from klaviyo_analytics.simulator.truth import GroundTruth, truth_for_store


class SimulatorServer:
    """A running simulator.

    Args:
        config: what to serve.
    """

    def __init__(self, config: SimulatorConfig | None = None) -> None:
        self.config = config or SimulatorConfig()
        self.clock = SimClock(self.config.start_now)
        self.app = SimulatorApp(self.config, self.clock)
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._sock: socket.socket | None = None
        self.port = 0

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT`` of the running server."""
        return f"http://{self.config.host}:{self.port}"

    @property
    def accounts(self) -> list[AccountCredentials]:
        """Credentials of every simulated account."""
        return list(self.app.credentials)

    @property
    def request_log(self) -> list[RequestLogEntry]:
        """Every request so far: ``(method, path, status, public_id)`` tuples that also carry
        ``.at`` (monotonic time) and ``.query`` (raw query string)."""
        return list(self.app.request_log)

    def set_faults(self, faults: FaultSpec) -> None:
        """Change the injected faults while running."""
        self.app.set_faults(faults)

    def revoke_refresh_tokens(self, public_id: str) -> int:
        """Revoke every live refresh token of an account (its next refresh gets invalid_grant).

        Returns:
            How many tokens were revoked.
        """
        return self.app.auth.revoke_refresh_tokens(public_id)

    def ground_truth(self, account_index: int = 0, as_of: datetime | None = None) -> GroundTruth:
        """Ground truth of one account as of ``as_of`` (default: the clock's now)."""
        acct = self.app.account_by_index(account_index)
        return truth_for_store(acct.store, acct.stats, as_of or self.clock.now())

    def start(self) -> SimulatorServer:
        """Start serving; returns once the port accepts connections.

        Raises:
            SimulatorError: the port cannot be bound or the server did not start.
        """
        family = socket.AF_INET6 if ":" in self.config.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.config.host, self.config.port))
        except OSError as exc:
            sock.close()
            raise SimulatorError(
                f"cannot bind {self.config.host}:{self.config.port}: {exc.strerror}"
            ) from exc
        self._sock = sock
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            self.app,
            log_level="warning",
            access_log=False,
            lifespan="off",
            # The app sends its own Date header from the simulator clock.
            date_header=False,
            timeout_keep_alive=30,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, daemon=True, name="simulator"
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise SimulatorError("the simulator server did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        """Stop serving and release the port."""
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._sock is not None:
            self._sock.close()
        self._server = None
        self._thread = None
        self._sock = None

    def serve_forever(self) -> None:
        """Block until interrupted (used by the CLI)."""
        try:
            while self._thread is not None and self._thread.is_alive():
                self._thread.join(timeout=0.5)
        except KeyboardInterrupt:
            pass
        finally:
            self.stop()

    def __enter__(self) -> SimulatorServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
