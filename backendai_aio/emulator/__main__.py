"""Run the emulator standalone: ``python -m backendai_aio.emulator --port N``."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal

from .._apiversion import SUPPORTED_API_VERSIONS
from ._app import USER_ACCESS_KEY, USER_SECRET_KEY, Emulator
from ._releases import DEFAULT_RELEASE, RELEASES


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m backendai_aio.emulator",
        description="Run a local Backend.AI manager emulator on 127.0.0.1.",
    )
    parser.add_argument("--port", type=int, default=8091, help="TCP port (0: any free port)")
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
        help="the newest API version the emulated manager speaks (default: the release's)",
    )
    parser.add_argument(
        "--access-key", help="serve this keypair only (default: the example admin and user)"
    )
    parser.add_argument("--secret-key", help="the secret key of --access-key")
    parser.add_argument(
        "--exec-timeout", type=float, default=60.0, help="seconds before runaway code is stopped"
    )
    args = parser.parse_args(argv)
    if (args.access_key is None) != (args.secret_key is None):
        parser.error("--access-key and --secret-key go together")
    return args


async def _serve(args: argparse.Namespace) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    async with Emulator(
        port=args.port,
        access_key=args.access_key,
        secret_key=args.secret_key,
        release=args.release,
        api_version=args.api_version,
        exec_timeout=args.exec_timeout,
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


def main(argv: list[str] | None = None) -> None:
    """Parse the command line and serve until interrupted."""
    args = _parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args))


if __name__ == "__main__":
    main()
