"""The HTTP servers in front of the images, as the page-view benchmark (and the media cache
tests) start them on loopback: ``varnishd`` with the repository's VCL, and nginx serving the
object store's files as a static server (the floor).
"""

from __future__ import annotations

import getpass
import os
import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VCL_DIR = ROOT / "deploy" / "varnish"


class NotInstalled(RuntimeError):
    """A server the benchmark needs is not installed."""


def _binary(name: str) -> str:
    found = shutil.which(name) or f"/usr/sbin/{name}"
    if not Path(found).exists():
        raise NotInstalled(
            f"{name} is not installed (apt-get install varnish varnish-modules nginx;"
            " scripts/test installs them)"
        )
    return found


def varnish_command(
    workdir: Path, *, port: int, purge_port: int, backend_port: int, storage: str = "malloc,64m"
) -> list[str]:
    """``varnishd`` in the foreground with the repository's ``default.vcl`` and
    ``ai_crawlers.vcl`` and a ``backends.vcl`` naming one API process on ``backend_port``;
    clients on ``port`` and purges on ``purge_port`` (both on 127.0.0.1). Writes the VCL
    directory and the instance under ``workdir``."""
    varnishd = _binary("varnishd")
    vcl = workdir / "vcl"
    vcl.mkdir(parents=True, exist_ok=True)
    for name in ("default.vcl", "ai_crawlers.vcl"):
        shutil.copy(VCL_DIR / name, vcl / name)
    (vcl / "backends.vcl").write_text(
        f'backend api {{ .host = "127.0.0.1"; .port = "{backend_port}"; }}\n'
        "sub gesso_backend { set req.backend_hint = api; }\n"
    )
    return [
        varnishd,
        "-F",
        "-j",
        "none",
        "-n",
        str(workdir / "instance"),
        "-a",
        f"http=127.0.0.1:{port},HTTP",
        "-a",
        f"purge=127.0.0.1:{purge_port},HTTP",
        "-T",
        "none",
        "-p",
        f"vcl_path={vcl}",
        "-f",
        str(vcl / "default.vcl"),
        "-s",
        storage,
    ]


NGINX_CONF = """\
daemon off;
master_process on;
worker_processes 1;
pid {workdir}/nginx.pid;
error_log {workdir}/error.log warn;
{user}
events {{ worker_connections 4096; }}
http {{
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 1000000;
    keepalive_timeout 120s;
    client_body_temp_path {workdir}/body;
    proxy_temp_path {workdir}/proxy;
    fastcgi_temp_path {workdir}/fastcgi;
    uwsgi_temp_path {workdir}/uwsgi;
    scgi_temp_path {workdir}/scgi;
    server {{
        listen 127.0.0.1:{port};
        location /media/ {{ alias {objects}/; }}
        location = /health {{ return 200 "ok"; }}
    }}
}}
"""


def nginx_command(workdir: Path, *, port: int, objects: Path) -> list[str]:
    """nginx (one worker process) in the foreground on 127.0.0.1:``port``, answering
    ``/media/<key>`` with the file ``objects/<key>``; its configuration and logs live in
    ``workdir``."""
    nginx = _binary("nginx")
    workdir.mkdir(parents=True, exist_ok=True)
    # as root, nginx's worker runs as "nobody" unless told otherwise, and may not read the files
    user = f"user {getpass.getuser()};" if os.geteuid() == 0 else ""
    conf = workdir / "nginx.conf"
    conf.write_text(
        NGINX_CONF.format(workdir=workdir, user=user, port=port, objects=objects.resolve())
    )
    return [nginx, "-p", str(workdir), "-c", str(conf), "-e", str(workdir / "error.log")]
