# The notebook's examples and pipeline functions, from the kernel's globals.
#
# Shared by the build's capture and by verify, which run it in the kernel first.
#
# Runs in the notebook's kernel, not in nb2svc: stdlib only, names prefixed
# __nb2svc_ so that they clash with nothing the notebook defines.


def __nb2svc_put(obj, path, value):
    # A copy of obj with the value at path (the JSON form's path) replaced.
    import sys

    if not path:
        return value
    pd = sys.modules.get("pandas")
    np = sys.modules.get("numpy")
    head, rest = path[0], path[1:]
    if pd is not None and isinstance(obj, pd.DataFrame):
        obj = obj.copy()
        col = [str(c) for c in obj.columns].index(rest[0])
        obj.iat[head, col] = __nb2svc_put(obj.iat[head, col], rest[1:], value)
        return obj
    if pd is not None and isinstance(obj, pd.Series):
        obj = obj.copy()
        obj.iloc[head] = __nb2svc_put(obj.iloc[head], rest, value)
        return obj
    if np is not None and isinstance(obj, np.ndarray):
        obj = obj.copy()
        obj[head] = __nb2svc_put(obj[head], rest, value)
        return obj
    if isinstance(obj, dict):
        key = next(k for k in obj if str(k) == head)
        return {**obj, key: __nb2svc_put(obj[key], rest, value)}
    items = list(obj)
    items[head] = __nb2svc_put(items[head], rest, value)
    return tuple(items) if isinstance(obj, tuple) else items


def __nb2svc_examples(fn_names, jsonable_src, redactions=()):
    import sys

    ns = {}
    exec(jsonable_src, ns)
    g = globals()
    pd = sys.modules.get("pandas")
    np = sys.modules.get("numpy")
    if "examples" in g:
        ex = g["examples"]
        if pd is not None and isinstance(ex, pd.DataFrame):
            items = [ex.iloc[[i]] for i in range(len(ex))]
        elif isinstance(ex, (dict, str)):
            items = [ex]
        else:
            items = list(ex)
    else:
        items = [g["example"]]
    if not items:
        raise ValueError("the example cell's 'examples' is empty")
    for index, path, value in redactions:  # nb2svc build --redact-examples
        items[index] = __nb2svc_put(items[index], path, value)

    def ident(x):
        return x

    pre = g[fn_names["preprocess"]] if fn_names.get("preprocess") else ident
    pred = g[fn_names["predict"]]
    post = g[fn_names["postprocess"]] if fn_names.get("postprocess") else ident
    first = items[0]
    columns = []
    array_dtype = None  # a numeric numpy example: the service rebuilds one
    if pd is not None and isinstance(first, pd.DataFrame):
        kind = "frame"
        columns = [[str(c), str(t)] for c, t in first.dtypes.items()]
    elif isinstance(first, dict):
        kind = "record"
    elif isinstance(first, str):
        kind = "string"
    elif (np is not None and isinstance(first, np.ndarray)) or isinstance(
        first, (list, tuple)
    ):
        kind = "array"
        if (
            np is not None
            and isinstance(first, np.ndarray)
            and first.dtype.kind in "biuf"
        ):
            array_dtype = str(first.dtype)
    else:
        kind = "json"
    return ns["to_jsonable"], items, (pre, pred, post), kind, columns, array_dtype
