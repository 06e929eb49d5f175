"""Git-host integrations and the one client that reads Git hosts (see DESIGN.md).

Other apps import from here only:

* :mod:`portal.githosts.integrations` — which hosts are configured (``integration_for_url``);
* :func:`client` — the HTTP client (:mod:`portal.githosts.httpclient` documents its rules);
* :mod:`portal.githosts.git` — ``RemoteRepository`` for Git over smart HTTP(S);
* :mod:`portal.githosts.providers` — GitHub/GitLab/plain Git: read a file (conditionally),
  list files, list an organisation's or group's repositories;
* :mod:`portal.githosts.errors` — what can go wrong; ``permanent`` says whether to retry.
"""

from portal.githosts.httpclient import GitHostClient, HostResponse, client

__all__ = ["GitHostClient", "HostResponse", "client"]
