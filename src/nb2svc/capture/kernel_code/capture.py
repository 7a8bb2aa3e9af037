# The examples' inputs and outputs, and the modules the loaded objects come from.
#
# Runs after examples.py, in the same namespace (the kernel's globals).
#
# Runs in the notebook's kernel, not in nb2svc: stdlib only, names prefixed
# __nb2svc_ so that they clash with nothing the notebook defines.


def __nb2svc_capture(out_path, fn_names, load_globals, jsonable_src, redactions):
    import json

    to_jsonable, items, (pre, pred, post), kind, columns, array_dtype = (
        # Defined by examples.py, which runs first in the same namespace.
        __nb2svc_examples(fn_names, jsonable_src, redactions)  # noqa: F821
    )
    g = globals()
    inputs, outputs = [], []
    for item in items:
        inputs.append(to_jsonable(item))
        arg = item.copy() if hasattr(item, "copy") else item
        outputs.append(to_jsonable(post(pred(pre(arg)))))
    seen, mods = set(), set()

    def walk(obj, depth):
        if id(obj) in seen or depth > 5:
            return
        seen.add(id(obj))
        mods.add(type(obj).__module__.split(".")[0])
        if isinstance(obj, (list, tuple, set, frozenset)):
            for x in list(obj)[:100]:
                walk(x, depth + 1)
        elif isinstance(obj, dict):
            for x in list(obj.values())[:100]:
                walk(x, depth + 1)
        elif hasattr(obj, "__dict__") and not isinstance(obj, type):
            for x in list(vars(obj).values())[:100]:
                walk(x, depth + 1)

    for name in load_globals:
        if name in g:
            walk(g[name], 0)
    with open(out_path, "w", encoding="utf-8") as fh:
        json.dump(
            {
                "kind": kind,
                "columns": columns,
                "inputs": inputs,
                "outputs": outputs,
                "modules": sorted(mods),
                "main": __nb2svc_main_refs(  # noqa: F821 (main_refs.py)
                    [g[n] for n in load_globals if n in g]
                ),
                "array_dtype": array_dtype,
            },
            fh,
        )
