# The examples' inputs and outputs, and the modules the loaded objects come from.
#
# Runs after examples.py, in the same namespace (the kernel's globals).
#
# Runs in the notebook's kernel, not in nb2svc: stdlib only, names prefixed
# __nb2svc_ so that they clash with nothing the notebook defines.


def __nb2svc_combined(items, kind):
    # The examples as one batch of their kind and each one's rows, or why there is none.
    import sys

    pd = sys.modules.get("pandas")
    np = sys.modules.get("numpy")
    if kind == "frame":
        return pd.concat(items, ignore_index=True), [len(item) for item in items]
    if kind in ("string", "record"):
        copies = [item.copy() if hasattr(item, "copy") else item for item in items]
        return copies, [1] * len(items)
    if kind != "array":
        return "free-form JSON inputs have no batch form"
    if np is None or not all(isinstance(item, np.ndarray) for item in items):
        return "the examples are lists, not numpy arrays"
    if all(item.ndim == 1 for item in items):
        return np.stack(items), [1] * len(items)
    if all(item.ndim == 2 for item in items):
        return np.vstack(items), [len(item) for item in items]
    return "the examples are not all rows or all 2-D arrays"


def __nb2svc_batch(items, kind, outputs, run, to_jsonable):
    # Whether one pipeline call on every example combined answers what the per-item
    # calls answered: {"vectorised": bool, "split": "item" | "rows", "reason": str}.
    # "item": output i of the combined call is example i's output; "rows": the output
    # has one item per row, and example i's output is its rows' slice.
    def no(reason):
        return {"vectorised": False, "split": "item", "reason": reason}

    combined = __nb2svc_combined(items, kind)
    if isinstance(combined, str):
        return no(combined)
    batch, sizes = combined
    what = {
        "frame": "one DataFrame",
        "array": "one 2-D array",
        "string": "one list of texts",
        "record": "one list of records",
    }[kind]
    try:
        result = to_jsonable(run(batch))
    except Exception as exc:  # the notebook's functions take one item only
        return no(f"the pipeline failed on {what} ({type(exc).__name__})")
    if not isinstance(result, list) or len(result) != sum(sizes):
        return no(f"the pipeline's output on {what} is not one item per row")
    if kind != "frame" and result == outputs:
        return {"vectorised": True, "split": "item", "reason": ""}
    parts, start = [], 0
    for size in sizes:
        parts.append(result[start : start + size])
        start += size
    if parts == outputs:
        return {"vectorised": True, "split": "rows", "reason": ""}
    return no(f"the pipeline's output on {what} differs from the per-item outputs")


def __nb2svc_n_features(objects):
    # The number of features the loaded model was fitted on (scikit-learn's
    # n_features_in_), when the load cell's objects agree on one; else None.
    found = set()
    for obj in objects:
        try:
            value = getattr(obj, "n_features_in_", None)
        except Exception:  # a property of the notebook's own object may raise
            value = None
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            found.add(value)
    return found.pop() if len(found) == 1 else None


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
    batch = __nb2svc_batch(
        items, kind, outputs, lambda raw: post(pred(pre(raw))), to_jsonable
    )
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
                "batch": batch,
                "n_features": __nb2svc_n_features(
                    [g[n] for n in load_globals if n in g]
                ),
            },
            fh,
        )
