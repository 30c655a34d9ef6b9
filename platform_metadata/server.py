#!/usr/bin/env python3
"""ML Metadata (MLMD) gRPC server: serves ml_metadata.MetadataStoreService, as the
gcr.io/tfx-oss-public/ml_metadata_store_server image does for Kubeflow Pipelines, by
forwarding each RPC, as serialized protobuf bytes, to the C++ metadata store bundled in
the ml-metadata wheel (its pybind11 extension has one function per RPC, named after it).

Configured by environment variables:
  MLMD_PORT                  gRPC port on 0.0.0.0 (default 8080)
  MLMD_DB_TYPE               postgresql (default), mysql (MySQL or MariaDB) or sqlite
  MLMD_DB_HOST, MLMD_DB_PORT (default 5432, or 3306 for mysql), MLMD_DB_NAME (default metadb),
  MLMD_DB_USER, MLMD_DB_PASSWORD  the database connection
  MLMD_DB_SSLMODE            optional libpq sslmode (disable, require, verify-full, ...)
  MLMD_DB_SKIP_DB_CREATION   false (default): MLMD creates MLMD_DB_NAME when it is missing (only
                             that needs the CREATEDB privilege); true: it must exist
  MLMD_SQLITE_URI            the SQLite file (MLMD_DB_TYPE=sqlite), created when missing
  MLMD_DB_CONNECT_TIMEOUT    seconds to keep retrying the first connection (default 300)
  PGCONNECT_TIMEOUT          libpq's timeout of one connection attempt (default here 10 s)
  MLMD_ENABLE_UPGRADE_MIGRATION  upgrade an older MLMD schema on start (default true)
or by the command-line flags of upstream's C++ server (its PostgreSQL overlay's), so that one
Deployment runs either image: --grpc_port, --metadata_source_config_type,
--postgres_config_{host,port,dbname,user,password,skip_db_creation},
--mysql_config_{host,port,database,user,password,skip_db_creation} (these select mysql),
--enable_database_upgrade (a flag wins over its variable); --grpc_channel_arguments is accepted
and ignored.
"""
from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from concurrent import futures

import grpc
from ml_metadata.metadata_store.pywrap.metadata_store_extension import metadata_store as pywrap
from ml_metadata.proto import metadata_store_pb2, metadata_store_service_pb2

SERVICE = metadata_store_service_pb2.DESCRIPTOR.services_by_name["MetadataStoreService"]
STATUS_BY_CODE = {code.value[0]: code for code in grpc.StatusCode}
INTERNAL, UNIMPLEMENTED, UNAVAILABLE = (grpc.StatusCode[name].value[0] for name in ("INTERNAL", "UNIMPLEMENTED", "UNAVAILABLE"))
log = logging.getLogger("mlmd-server")


def env(name: str, default: str | None = None) -> str:
    value = os.environ.get(name, default)
    if value is None:
        sys.exit(f"mlmd-server: environment variable {name} is required")
    return value


def env_bool(name: str, default: bool) -> bool:
    return env(name, str(default)).strip().lower() in ("1", "true", "yes", "on")


UPSTREAM_FLAGS = {
    "grpc_port": "MLMD_PORT",
    "metadata_source_config_type": "MLMD_DB_TYPE",
    "postgres_config_host": "MLMD_DB_HOST",
    "postgres_config_port": "MLMD_DB_PORT",
    "postgres_config_dbname": "MLMD_DB_NAME",
    "postgres_config_user": "MLMD_DB_USER",
    "postgres_config_password": "MLMD_DB_PASSWORD",
    "postgres_config_skip_db_creation": "MLMD_DB_SKIP_DB_CREATION",
    "mysql_config_host": "MLMD_DB_HOST",
    "mysql_config_port": "MLMD_DB_PORT",
    "mysql_config_database": "MLMD_DB_NAME",
    "mysql_config_user": "MLMD_DB_USER",
    "mysql_config_password": "MLMD_DB_PASSWORD",
    "mysql_config_skip_db_creation": "MLMD_DB_SKIP_DB_CREATION",
    "enable_database_upgrade": "MLMD_ENABLE_UPGRADE_MIGRATION",
}
IGNORED_FLAGS = ("grpc_channel_arguments",)


def apply_flags(argv: list[str]) -> None:
    """Upstream's `--flag=value` (or bare boolean `--flag`) arguments, as environment variables."""
    for arg in argv:
        name, has_value, value = arg.removeprefix("--").partition("=")
        if not arg.startswith("--") or name not in (*UPSTREAM_FLAGS, *IGNORED_FLAGS):
            sys.exit(f"mlmd-server: unknown argument {arg!r}; accepted: "
                     + ", ".join(f"--{flag}=..." for flag in (*UPSTREAM_FLAGS, *IGNORED_FLAGS)))
        if name in IGNORED_FLAGS:
            log.info("ignoring --%s (the Python server has no such setting)", name)
            continue
        os.environ[UPSTREAM_FLAGS[name]] = value if has_value else "true"
        if name.startswith("mysql_config_"):
            os.environ["MLMD_DB_TYPE"] = "mysql"  # upstream's server picks MySQL by these flags


def one_line(message: str) -> str:
    return " ".join(message.split())


def connection_config() -> metadata_store_pb2.ConnectionConfig:
    config = metadata_store_pb2.ConnectionConfig()
    db_type = env("MLMD_DB_TYPE", "postgresql")
    if db_type == "sqlite":
        config.sqlite.filename_uri = env("MLMD_SQLITE_URI")
        config.sqlite.connection_mode = metadata_store_pb2.SqliteMetadataSourceConfig.READWRITE_OPENCREATE
    elif db_type in ("postgresql", "postgres"):
        pg = config.postgresql
        pg.host, pg.port = env("MLMD_DB_HOST"), env("MLMD_DB_PORT", "5432")
        pg.dbname, pg.user = env("MLMD_DB_NAME", "metadb"), env("MLMD_DB_USER")
        pg.password = env("MLMD_DB_PASSWORD", "")
        pg.skip_db_creation = env_bool("MLMD_DB_SKIP_DB_CREATION", False)
        if os.environ.get("MLMD_DB_SSLMODE"):
            pg.ssloption.sslmode = os.environ["MLMD_DB_SSLMODE"]
    elif db_type == "mysql":
        my = config.mysql
        my.host, my.port = env("MLMD_DB_HOST"), int(env("MLMD_DB_PORT", "3306"))
        my.database, my.user = env("MLMD_DB_NAME", "metadb"), env("MLMD_DB_USER")
        my.password = env("MLMD_DB_PASSWORD", "")
        my.skip_db_creation = env_bool("MLMD_DB_SKIP_DB_CREATION", False)
    else:
        sys.exit(f"mlmd-server: MLMD_DB_TYPE must be postgresql, mysql or sqlite, not {db_type!r}")
    return config


def describe(config: metadata_store_pb2.ConnectionConfig) -> str:
    if config.HasField("sqlite"):
        return f"sqlite {config.sqlite.filename_uri}"
    if config.HasField("mysql"):
        my = config.mysql
        return f"mysql {my.user}@{my.host}:{my.port}/{my.database}"
    pg = config.postgresql
    return f"postgresql {pg.user}@{pg.host}:{pg.port}/{pg.dbname}"


class Store:
    """One C++ metadata store, i.e. one database connection, used by one RPC at a time.

    The C++ store does not reconnect by itself: after a PostgreSQL restart each call fails with
    INTERNAL ("server closed the connection unexpectedly"). So a call that fails with INTERNAL or
    UNAVAILABLE drops the store, and is retried once on a new connection (the failed transaction
    was rolled back). While the database stays down, calls fail with UNAVAILABLE.
    """

    def __init__(self, config: metadata_store_pb2.ConnectionConfig, upgrade: bool) -> None:
        self._config = config.SerializeToString()
        self._migration = metadata_store_pb2.MigrationOptions(enable_upgrade_migration=upgrade).SerializeToString()
        self._target = describe(config)
        self._lock = threading.Lock()
        self._store: object | None = None

    def connect(self, timeout_s: float) -> None:
        """Connects (creating or upgrading the schema), retrying until timeout_s has passed."""
        deadline, attempt = time.monotonic() + timeout_s, 0
        while True:
            attempt += 1
            log.info("connecting to %s (attempt %d)", self._target, attempt)
            try:
                self._store = pywrap.CreateMetadataStore(self._config, self._migration)
                log.info("connected to %s; the MLMD schema is ready", self._target)
                return
            except RuntimeError as error:  # libpq's own message is logged just above by the C++ store
                if time.monotonic() + 2 > deadline:
                    raise RuntimeError(f"cannot connect to {self._target} after {attempt} attempts"
                                       f" in {timeout_s:.0f} s: {str(error).strip()}") from error
                log.warning("cannot connect to %s yet: %s", self._target, str(error).strip())
                time.sleep(2)

    def _invoke(self, call: Callable[[object, bytes], list], request: bytes) -> tuple[bytes, str, int]:
        if self._store is None:
            try:
                self._store = pywrap.CreateMetadataStore(self._config, self._migration)
                log.info("reconnected to %s", self._target)
            except RuntimeError as error:
                return b"", f"cannot connect to {self._target}: {str(error).strip()}", UNAVAILABLE
        response, raw_message, code = call(self._store, request)
        if code in (INTERNAL, UNAVAILABLE):
            self._store = None
        return response, raw_message.decode("utf-8", "replace"), code

    def handler(self, method: str) -> Callable[[bytes, grpc.ServicerContext], bytes]:
        call = getattr(pywrap, method)

        def handle(request: bytes, context: grpc.ServicerContext) -> bytes:
            with self._lock:
                connected = self._store is not None
                response, message, code = self._invoke(call, request)
                if connected and self._store is None:
                    log.warning("%s failed: %s; retrying on a new connection", method, one_line(message))
                    response, message, code = self._invoke(call, request)
            return answer(method, context, response, message, code)

        return handle


def unimplemented(method: str) -> Callable[[bytes, grpc.ServicerContext], bytes]:
    def handle(request: bytes, context: grpc.ServicerContext) -> bytes:
        return answer(method, context, b"", f"{method} is not implemented by this MLMD server", UNIMPLEMENTED)

    return handle


def answer(method: str, context: grpc.ServicerContext, response: bytes, message: str, code: int) -> bytes:
    """The response, or else the store's status code (absl's codes are gRPC's) and message."""
    if code != 0:
        status = STATUS_BY_CODE.get(code, grpc.StatusCode.UNKNOWN)
        log.warning("%s failed: %s: %s", method, status.name, one_line(message))
        context.abort(status, message)  # raises
    return response


def main() -> None:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    apply_flags(sys.argv[1:])
    port = int(env("MLMD_PORT", "8080"))
    os.environ.setdefault("PGCONNECT_TIMEOUT", "10")  # libpq's default is to wait for TCP to give up
    store = Store(connection_config(), env_bool("MLMD_ENABLE_UPGRADE_MIGRATION", True))
    try:
        store.connect(float(env("MLMD_DB_CONNECT_TIMEOUT", "300")))
    except RuntimeError as error:
        log.error("%s", error)
        sys.exit(1)
    # One handler per RPC, without (de)serializers: requests and responses stay the bytes that
    # the C++ store takes and gives. RPCs newer than the store's extension are UNIMPLEMENTED.
    missing = [method.name for method in SERVICE.methods if not hasattr(pywrap, method.name)]
    handlers = {method.name: grpc.unary_unary_rpc_method_handler(
                    unimplemented(method.name) if method.name in missing else store.handler(method.name))
                for method in SERVICE.methods}
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=16))
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE.full_name, handlers),))
    server.add_insecure_port(f"0.0.0.0:{port}")
    server.start()
    log.info("serving %s (%d methods) on 0.0.0.0:%d; unimplemented: %s", SERVICE.full_name,
             len(handlers), port, ", ".join(missing) or "none")

    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda signum, _frame: stop.set())
    stop.wait()
    log.info("stopping: finishing the RPCs in flight (at most 10 s)")
    server.stop(grace=10).wait()
    log.info("stopped")


if __name__ == "__main__":
    main()
