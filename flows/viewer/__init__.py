"""`synthloom view`: a local, read-only web app over the store, server-rendered (Starlette + Jinja2, no JS).

Pages: datasets and versions; a version's rows (search, sort, filters, pages); a row (Markdown, the
conversation, every column, lineage as links); rejects by stage and reason with raw text; the card;
the diff of two versions; the catalog's `versions` / `evals` / `trainings` views.

Modules: data (the sandboxed catalog, rebuilt when the store changes), queries / lineage / diff (what
each page shows, as bound-parameter SQL), rowindex (in-memory copies of large versions for their pages),
neardup (a diff's near-duplicate pairs, by filters/dedup), params (request checks), render (Markdown),
templating, pages (handlers), app (routes, Host-header guard, error pages), server (bind, print the URL, serve).
"""

from flows.viewer.app import create_app
from flows.viewer.server import make_server, serve

__all__ = ["create_app", "make_server", "serve"]
