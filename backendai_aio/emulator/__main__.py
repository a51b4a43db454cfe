"""Run the emulator standalone: ``python -m backendai_aio.emulator --port N``."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import errno
import math
import signal
import sys
from collections.abc import AsyncIterator, Callable

from .._apiversion import SUPPORTED_API_VERSIONS
from ._app import USER_ACCESS_KEY, USER_SECRET_KEY, Emulator
from ._kernel import KernelLimits
from ._releases import DEFAULT_RELEASE, RELEASES

_PROG = "python -m backendai_aio.emulator"


def _number(
    kind: Callable[[str], float], *, minimum: float, strict: bool
) -> Callable[[str], float]:
    """An argparse type: a finite number above (or from) *minimum*."""

    def parse(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        low_ok = value > minimum if strict else value >= minimum
        if not low_ok or not math.isfinite(value):
            bound = f"above {minimum:g}" if strict else f"at least {minimum:g}"
            raise argparse.ArgumentTypeError(f"{text} is not {bound}")
        return value

    return parse


def _count(text: str) -> int:
    return int(_number(int, minimum=1, strict=False)(text))


def _port(text: str) -> int:
    port = int(_number(int, minimum=0, strict=False)(text))
    if port > 65535:
        raise argparse.ArgumentTypeError(f"{text} is not a TCP port (0 to 65535)")
    return port


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows each default that is a value; an unset option's help says what it means."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default is None:
            return action.help
        return super()._get_help_string(action)


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog=_PROG,
        description="Run a local Backend.AI manager emulator on 127.0.0.1.",
        formatter_class=_HelpFormatter,
    )
    parser.add_argument(
        "--port", type=_port, default=8091, metavar="N", help="TCP port (0: any free port)"
    )
    parser.add_argument(
        "--release",
        default=DEFAULT_RELEASE,
        choices=tuple(RELEASES),
        help=f"the manager release to behave as (default: {DEFAULT_RELEASE})",
    )
    parser.add_argument(
        "--api-version",
        default=None,
        choices=SUPPORTED_API_VERSIONS,
        metavar="VERSION",
        help="the newest API version the emulated manager speaks (default: the release's "
        "newest), one of " + ", ".join(SUPPORTED_API_VERSIONS),
    )
    parser.add_argument(
        "--access-key",
        metavar="KEY",
        help="serve this keypair only (default: the example admin and user)",
    )
    parser.add_argument("--secret-key", metavar="KEY", help="the secret key of --access-key")
    parser.add_argument(
        "--exec-timeout",
        metavar="SECONDS",
        type=_number(float, minimum=0, strict=True),
        default=60.0,
        help="seconds before runaway code is stopped",
    )
    parser.add_argument(
        "--flush-window",
        metavar="SECONDS",
        type=_number(float, minimum=0, strict=True),
        default=0.5,
        help="seconds an execute call collects output before answering 'continued'",
    )
    parser.add_argument(
        "--rate-limit",
        metavar="N",
        type=_count,
        default=None,
        help="calls per keypair per 900-second window (default: the keypairs' 30000)",
    )
    parser.add_argument(
        "--memory-limit",
        metavar="BYTES",
        type=_count,
        help="bytes of address space each session process may use",
    )
    parser.add_argument(
        "--cpu-time-limit",
        metavar="SECONDS",
        type=_count,
        help="CPU seconds each session process may use",
    )
    parser.add_argument(
        "--process-limit",
        metavar="N",
        type=_count,
        help="RLIMIT_NPROC of session processes (counts the OS user's)",
    )
    parser.add_argument(
        "--allow-host",
        metavar="HOST",
        action="append",
        help="another Host value to answer besides 127.0.0.1/localhost/[::1] with the port",
    )
    args = parser.parse_args(argv)
    if (args.access_key is None) != (args.secret_key is None):
        parser.error("--access-key and --secret-key go together")
    try:
        args.limits = KernelLimits(
            memory=args.memory_limit, cpu_time=args.cpu_time_limit, processes=args.process_limit
        )
    except ValueError as exc:
        parser.error(str(exc))
    return args


async def _serve(args: argparse.Namespace) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    async with _listening(
        Emulator(
            port=args.port,
            access_key=args.access_key,
            secret_key=args.secret_key,
            release=args.release,
            api_version=args.api_version,
            exec_timeout=args.exec_timeout,
            flush_window=args.flush_window,
            rate_limit=args.rate_limit,
            limits=args.limits,
            allowed_hosts=args.allow_host or (),
        ),
        args.port,
    ) as emulator:
        # The default keypairs are published examples, shown so users can copy them.
        print(
            f"Backend.AI emulator (release {emulator.release}, API {emulator.api_version}) "
            "listening; use it with:",
            flush=True,
        )
        print(f"export BACKEND_ENDPOINT={emulator.endpoint}")
        print(f"export BACKEND_ACCESS_KEY={emulator.access_key}")
        print(f"export BACKEND_SECRET_KEY={emulator.config.secret_key}", flush=True)
        if args.access_key is None:
            print(
                f"(a plain user: {USER_ACCESS_KEY} / {USER_SECRET_KEY}; webserver logins "
                "admin@lablup.com / wJalrXUt and user@lablup.com / C8qnIo29)",
                flush=True,
            )
        await stop.wait()


@contextlib.asynccontextmanager
async def _listening(emulator: Emulator, port: int) -> AsyncIterator[Emulator]:
    """Start *emulator* on *port*; one it cannot listen on is a `_ListenError`."""
    try:
        await emulator.start()
    except OSError as error:
        raise _ListenError(listen_failure(port, error)) from None
    try:
        yield emulator
    finally:
        await emulator.stop()


class _ListenError(Exception):
    """The emulator could not listen; the message is the line to show."""


def listen_failure(port: int, error: OSError) -> str:
    """One line saying why the emulator could not listen on 127.0.0.1:*port* (pure)."""
    if error.errno == errno.EADDRINUSE:
        return (
            f"{_PROG}: error: port {port} on 127.0.0.1 is already in use; "
            "stop what listens there, or pick another with --port (0: any free port)"
        )
    reason = error.strerror or str(error)
    return f"{_PROG}: error: cannot listen on 127.0.0.1:{port}: {reason}"


def main(argv: list[str] | None = None) -> None:
    """Parse the command line and serve until interrupted.

    A port that cannot be listened on ends the program with one line on standard error and
    exit status 1, not a traceback.
    """
    args = _parse_args(argv)
    try:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(_serve(args))
    except _ListenError as error:
        print(error, file=sys.stderr)
        raise SystemExit(1) from None


if __name__ == "__main__":
    main()
