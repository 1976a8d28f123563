"""Child process that serves one GGUF model with xllamacpp's OpenAI-compatible HTTP server.

Run as `python -m orch.backends._llamacpp_worker --model PATH --alias NAME ...` by `LocalServer`; one
process per model, so each has its own log and can be killed on its own. Protocol with the parent:

- stderr is the log file (opened by the parent, so even an import error lands in it); stdout is
  redirected there too because llama.cpp logs to both.
- a dup of the original stdout (a pipe) carries exactly one line: `READY <address>` or `ERROR <why>`.
- the worker serves until stdin reaches EOF (the parent closed it or died) or SIGTERM/SIGINT/SIGHUP.

Only the standard library and xllamacpp are imported, so start-up costs nothing extra.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import traceback
from typing import TextIO

__all__ = ["JINJA_MARKERS", "main", "wants_jinja"]

JINJA_MARKERS = ("{%", "{{")


def wants_jinja(chat_template: str) -> bool:
    """Whether a `--chat-template` value is Jinja source rather than a llama.cpp built-in name.

    xllamacpp defaults to `use_jinja=True`, which treats a built-in name such as `gemma` as a literal
    Jinja template: every prompt then renders as the bare word "gemma". Built-in names only work with
    Jinja off.
    """
    return any(marker in chat_template for marker in JINJA_MARKERS)


def _parse(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="orch.backends._llamacpp_worker")
    ap.add_argument("--model", required=True)
    ap.add_argument("--alias", required=True)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--ctx", type=int, default=4096)
    ap.add_argument("--chat-template", default=None)
    return ap.parse_args(argv)


def _serve(args: argparse.Namespace) -> object:
    import xllamacpp as xlc

    p = xlc.CommonParams()
    p.model.path = args.model
    p.model_alias = {args.alias}
    p.hostnames = ["127.0.0.1"]
    p.port = 0  # a free port, reported back in the ready line
    p.n_parallel = 1  # one slot: parallel requests on 2 cores only thrash
    p.n_ctx = args.ctx
    p.cpuparams.n_threads = args.threads
    p.cpuparams_batch.n_threads = args.threads
    if args.chat_template:
        p.use_jinja = wants_jinja(args.chat_template)
        p.chat_template = args.chat_template
    return xlc.Server(p)  # returns once the model is loaded and the port is listening


def _report(ready: TextIO, line: str) -> None:
    ready.write(line.replace("\n", " ") + "\n")
    ready.flush()
    ready.close()


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    ready = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)  # stderr is the log file; llama.cpp also writes to stdout
    sys.stdout = os.fdopen(1, "w", encoding="utf-8", errors="replace", buffering=1, closefd=False)
    print(f"orch worker pid {os.getpid()}: serving {args.model} as {args.alias!r}", flush=True)

    try:
        server = _serve(args)
    except Exception as exc:
        if not isinstance(exc, RuntimeError):  # xllamacpp's "Failed to init server": llama.cpp said why
            traceback.print_exc()
        print(f"orch worker pid {os.getpid()}: {type(exc).__name__}: {exc}", flush=True)
        _report(ready, f"ERROR {type(exc).__name__}: {exc}")
        return 1

    stop = threading.Event()
    # Handlers go in only now: during the load, SIGTERM's default action kills at once, whereas a
    # Python handler would wait for the (uninterruptible) C++ load to finish.
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, lambda *_: stop.set())

    def watch_stdin() -> None:
        try:
            while sys.stdin.buffer.read(65536):
                pass
        except OSError:
            pass
        stop.set()

    threading.Thread(target=watch_stdin, name="stdin-eof", daemon=True).start()
    _report(ready, f"READY {server.listening_address}")  # type: ignore[attr-defined]
    while not stop.wait(0.5):
        pass
    print(f"orch worker pid {os.getpid()}: stopping", flush=True)
    del server
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)  # skip interpreter teardown: nothing left to do, and native threads can stall it


if __name__ == "__main__":
    sys.exit(main())
