"""nb2svc: turn a marked proof-of-concept notebook into a production-grade service.

``nb2svc build`` (``api.build``) runs these stages in order, one call each:

1. read      ``notebook/reader.py``   ``read_notebook``: nbformat or percent script in
2. mark      ``notebook/markers.py``  ``mark_cells``: tags and directives -> roles
3. analyse   ``analysis/``            ``analyse``: magics, role functions,
   self-containment, artifacts, exported blocks, config, example and reference
4. capture   ``capture/``             ``capture_examples``: run the notebook in a
   fresh kernel (or reuse the stored capture), the examples' outputs, the profile
5. pin       ``pinning.py``           ``pin_requirements``: pinned requirements,
   the hash lock, the image's system packages
6. render    ``render/``              ``render_service``: the templates, in memory
7. format    ``formatting.py``        ``format_tree``: ruff and black
8. write     ``writer.py``            ``write_tree``: atomically, with a manifest

``nb2svc verify`` (``verify/``) then proves the service answers what the notebook
returns. ``cli.py`` turns options into these calls, ``console.py`` prints.
"""

__version__ = "0.1.0"
