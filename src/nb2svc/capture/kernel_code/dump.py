# `nb2svc build --capture NAME`: save an object that lives only in the kernel.
#
# Runs in the notebook's kernel, not in nb2svc: stdlib only, names prefixed
# __nb2svc_ so that they clash with nothing the notebook defines.


def __nb2svc_dump(name, path, fmt, exported=()):
    import os

    g = globals()
    if name not in g:
        raise NameError(
            f"nb2svc build --capture {name}: after running the notebook there is no "
            f"global named {name!r}"
        )
    obj = g[name]
    seen, local = set(), []

    def walk(x, depth):
        if id(x) in seen or depth > 6:
            return
        seen.add(id(x))
        for owner in (x, type(x)):
            if getattr(owner, "__module__", None) == "__main__":
                label = getattr(owner, "__qualname__", None)  # None: an instance
                if label and label not in local:
                    local.append(label)
        if isinstance(x, (list, tuple, set, frozenset)):
            for item in list(x)[:200]:
                walk(item, depth + 1)
        elif isinstance(x, dict):
            for item in list(x.values())[:200]:
                walk(item, depth + 1)
        elif hasattr(x, "__dict__") and not isinstance(x, type):
            for item in list(vars(x).values())[:200]:
                walk(item, depth + 1)

    walk(obj, 0)
    # Exported definitions are lent to the service's __main__ (nb2svc.definitions).
    local = [q for q in local if "<" in q or q.split(".")[0] not in exported]
    if local:
        raise TypeError(
            f"nb2svc build --capture {name}: it uses {', '.join(local)}, defined in the "
            "notebook itself; a saved copy refers to it as __main__.<name>, which the "
            "service has only if a cell marked helpers defines it at its top level. "
            "Mark that cell helpers (a lambda: define it with def)"
        )
    os.makedirs(os.path.dirname(path), exist_ok=True)
    # Written aside, then moved: an interrupted save leaves the old file whole.
    partial = f"{path}.partial"
    if fmt == "skops":
        import skops.io

        skops.io.dump(obj, partial)
    else:
        import joblib

        joblib.dump(obj, partial)
    os.replace(partial, path)
