"""Running the endpoint: in a thread of the process that may serve it, one process per home.

`<home>/web.lock` (flock) is held while serving, so two processes of one home never both bind
`[web] listen`. The daemon serves (waiting for the lock if the app holds it); the app serves
only while no daemon runs, and hands over within CHECK_EVERY when one starts.
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import IO, Any

from aiohttp import web

from messagehub_tui.config import Settings
from messagehub_tui.database import close_db
from messagehub_tui.web.app import make_app

CHECK_EVERY = 0.5
# how long a start waits to hear whether [web] listen could be bound (it takes milliseconds)
SERVE_WAIT = 5.0
LOCK_NAME = "web.lock"
log = logging.getLogger("messagehub.web")


class Endpoint:
    """The web endpoint of this process, served from its own thread and event loop.

    `may_serve` is asked every CHECK_EVERY seconds: while it says no, this process does not
    serve (the app asks "is no daemon running?"). Database work runs on one more thread, which
    owns the endpoint's connection and closes it at the end.
    """

    def __init__(self, settings: Settings, may_serve: Callable[[], bool] = lambda: True):
        assert settings.web.listen is not None, "only started with [web] listen set"
        self.settings = settings
        self.may_serve = may_serve
        self.serving = threading.Event()
        self.problem: str | None = None  # why it does not serve, when it should
        # the first try to serve is over: serving, or `problem` says why not, or another
        # process of this home serves (it hands over later)
        self.settled = threading.Event()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="web-endpoint", daemon=True)
        self._lock: IO[str] | None = None

    def start(self) -> Endpoint:
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop serving and release the port and the lock; waits for the thread."""
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _take_lock(self) -> bool:
        handle = (self.settings.home / LOCK_NAME).open("a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            return False
        self._lock = handle
        return True

    def _release_lock(self) -> None:
        if self._lock is not None:
            self._lock.close()  # closing the file releases the flock
            self._lock = None

    def _run(self) -> None:
        database = ThreadPoolExecutor(1, thread_name_prefix="web-db")
        try:
            asyncio.run(self._main(database))
        except Exception as exc:  # the process goes on without its endpoint: say why
            self.problem = f"the endpoint stopped: {type(exc).__name__}: {exc}"
            log.exception("the feedback endpoint stopped")
            self.settled.set()
        finally:
            database.submit(close_db).result()
            database.shutdown()

    async def _main(self, database: ThreadPoolExecutor) -> None:
        loop = asyncio.get_running_loop()

        async def run_db(function: Callable[..., Any], *args: Any) -> Any:
            return await loop.run_in_executor(database, function, *args)

        runner: web.AppRunner | None = None
        try:
            while not self._stopping.is_set():
                allowed = self.may_serve()  # a file read: quick enough for the loop
                if runner is None and allowed and self._take_lock():
                    runner = await self._bind(make_app(self.settings, run_db))
                elif runner is not None and not allowed:
                    log.info("another process of this home serves %s now",
                             self.settings.web.listen_text)
                    await self._unbind(runner)
                    runner = None
                self.settled.set()
                await asyncio.sleep(CHECK_EVERY)
        finally:
            if runner is not None:
                await self._unbind(runner)

    async def _bind(self, app: web.Application) -> web.AppRunner | None:
        assert self.settings.web.listen is not None
        host, port = self.settings.web.listen
        # no access log: the paths carry unsubscribe tokens
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        try:
            await web.TCPSite(runner, host, port).start()
        except OSError as exc:
            await runner.cleanup()
            self._release_lock()
            problem = f"cannot listen on {self.settings.web.listen_text}: {exc.strerror or exc}"
            if problem != self.problem:
                log.error("%s", problem)
            self.problem = problem
            return None
        self.problem = None
        self.serving.set()
        log.info("serving the feedback endpoint on %s", self.settings.web.listen_text)
        return runner

    async def _unbind(self, runner: web.AppRunner) -> None:
        self.serving.clear()
        await runner.cleanup()
        self._release_lock()


def unserved_warning(endpoint: Endpoint) -> str | None:
    """After the endpoint's first try to serve: why [web] listen is not served, one line for
    the user (the daemon's stderr, the app's notice); None when it is served, here or by
    another process of this home."""
    if endpoint.settled.wait(SERVE_WAIT) and endpoint.problem:
        return (f"{endpoint.problem}; unsubscribe links and webhooks are not served until it "
                "can (choose another [web] listen, or stop what uses it)")
    return None


def start_endpoint(settings: Settings, may_serve: Callable[[], bool] = lambda: True
                   ) -> Endpoint | None:
    """Start serving [web] listen from a thread of this process; None when [web] is off."""
    if settings.web.listen is None:
        return None
    if settings.web.listen_warning:
        log.warning("%s", settings.web.listen_warning)
    return Endpoint(settings, may_serve).start()
