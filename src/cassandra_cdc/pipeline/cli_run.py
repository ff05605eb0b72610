"""``cassandra-cdc run``: load the configuration, start observability and the pipeline, stop on a signal."""

from __future__ import annotations

import logging
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from cassandra_cdc.config.loader import ConfigError, load_config
from cassandra_cdc.pipeline.observe import configure_logging, register_pipeline, start_observability
from cassandra_cdc.pipeline.runner import Pipeline, PipelineSetupError, reload_masking, summary_line

log = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_UNCLEAN = 1  # a lane did not stop within the grace period, or stopped on an error
EXIT_CONFIG = 2


def run_pipeline(config_path: Path, env_file: Path | None = None) -> int:
    """Run until SIGTERM/SIGINT; returns the process exit code."""
    try:
        config = load_config(config_path, env_file=env_file)
    except ConfigError as exc:
        for message in exc.messages:
            print(f"error: {message}", file=sys.stderr)
        return EXIT_CONFIG
    configure_logging(config.observability)
    try:
        observability = start_observability(config.observability)
    except OSError as exc:
        print(f"error: {config_path}: observability.http: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    try:
        try:
            pipeline = Pipeline(config, observer=observability.observer)
        except PipelineSetupError as exc:
            print(f"error: {config_path}: {exc}", file=sys.stderr)
            return EXIT_CONFIG
        register_pipeline(observability, pipeline)
        stop = threading.Event()

        def on_signal(signum: int, frame: FrameType | None) -> None:
            log.info("%s received: committing in-flight batches and stopping", signal.Signals(signum).name)
            stop.set()

        def on_reload(signum: int, frame: FrameType | None) -> None:
            # Masking rules and key rotation apply to changes masked from now on.
            try:
                reload_masking(pipeline, load_config(config_path, env_file=env_file))
            except (ConfigError, PipelineSetupError) as exc:
                messages = exc.messages if isinstance(exc, ConfigError) else [str(exc)]
                log.error("SIGHUP: masking not reloaded, the current rules stay in force: %s", "; ".join(messages))
            else:
                log.info("SIGHUP: masking rules and keys reloaded")

        previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
        previous[signal.SIGHUP] = signal.signal(signal.SIGHUP, on_reload)
        try:

            def started(p: Pipeline) -> None:
                endpoint = f"; http {observability.server.url}" if observability.server is not None else ""
                print(summary_line(p) + endpoint, flush=True)

            clean = pipeline.run(stop, on_started=started)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        for status in pipeline.status():
            log.info(
                "sink %s: %s, %d change(s) in %d batch(es), %d problem(s)",
                status.sink,
                status.state,
                status.changes,
                status.batches,
                status.problems,
            )
        return EXIT_OK if clean else EXIT_UNCLEAN
    finally:
        observability.stop()
