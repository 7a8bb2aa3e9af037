# The reference data's profile (the drift baseline), in the notebook's kernel: run by
# nb2svc's build after the capture, and by ``retrain`` after the train cells (with the
# new model), so that both write the same profile for the same data.
#
# Read as text (``nb2svc_runtime.reference.kernel_code``) and sent to the kernel as a
# cell: stdlib only, no module docstring (it would set the notebook's ``__doc__``), no
# module-level imports, every name prefixed __nb2svc_ so that it clashes with nothing
# the notebook defines.


def __nb2svc_profile_basis(capture_path, profile_src):
    # What the profile needs of the capture: the input's kind, the example's columns
    # and the feature names of its inputs (the features the service monitors).
    import json

    prof = {}
    exec(profile_src, prof)
    with open(capture_path, encoding="utf-8") as fh:
        captured = json.load(fh)
    kind = captured["kind"]
    names = {
        name
        for item in captured["inputs"]
        for row in prof["input_rows"](item, kind)
        for name in row
    }
    return {"kind": kind, "columns": captured["columns"], "names": sorted(names)}


def __nb2svc_profile(
    out_path, basis, fn_names, jsonable_src, profile_src, max_rows, max_calls
):
    import json

    ns, prof = {}, {}
    exec(jsonable_src, ns)
    exec(profile_src, prof)
    to_jsonable = ns["to_jsonable"]
    g = globals()
    kind, columns = basis["kind"], [tuple(c) for c in basis["columns"]]
    ref = g["reference"]

    def ident(x):
        return x

    pre = g[fn_names["preprocess"]] if fn_names.get("preprocess") else ident
    pred = g[fn_names["predict"]]
    post = g[fn_names["postprocess"]] if fn_names.get("postprocess") else ident

    def run(raw):
        return to_jsonable(post(pred(pre(raw))))

    expected = sorted(basis["names"])
    rows = __nb2svc_frame_rows if kind == "frame" else __nb2svc_item_rows
    in_rows, out_rows, found = rows(
        ref, kind, columns, run, to_jsonable, prof, max_rows, max_calls
    )
    if not in_rows:
        raise ValueError("'reference' holds no rows")
    notes = []
    ignored = [n for n in found if n not in expected]
    absent = [n for n in expected if n not in found]
    if ignored:
        notes.append(
            "left out of the profile, not service inputs: " + ", ".join(ignored)
        )
    if absent:
        notes.append(
            "service inputs missing from the reference, not monitored: "
            + ", ".join(absent)
        )
    profile = prof["build_profile"](
        in_rows, out_rows, [n for n in expected if n in found]
    )
    with open(out_path, "w", encoding="utf-8") as fh:
        json.dump({"profile": profile, "notes": notes}, fh)


def __nb2svc_spaced(n, m):
    # At most m of range(n), evenly spaced.
    return list(range(n)) if n <= m else [i * n // m for i in range(m)]


def __nb2svc_frame_rows(
    ref, kind, columns, run, to_jsonable, prof, max_rows, max_calls
):
    # A DataFrame example: the reference as a frame with the example's columns,
    # scored in one call when the pipeline can (else one row at a time).
    import contextlib
    import sys

    pd = sys.modules.get("pandas")
    np = sys.modules.get("numpy")
    if pd is None:
        raise TypeError("'reference' must be a pandas DataFrame, like the example")
    names = [c for c, _ in columns]
    if not isinstance(ref, pd.DataFrame):
        two_d = np is not None and isinstance(ref, np.ndarray) and ref.ndim == 2
        ref = pd.DataFrame(ref, columns=names if two_d else None)
    labels = {str(c): c for c in ref.columns}
    found = sorted(labels)
    ref = ref[[labels[c] for c in names if c in labels]]
    ref.columns = [str(c) for c in ref.columns]
    with contextlib.suppress(TypeError, ValueError):
        ref = ref.astype({c: t for c, t in columns if c in ref.columns})
    ref = ref.iloc[__nb2svc_spaced(len(ref), max_rows)].reset_index(drop=True)
    in_rows = prof["input_rows"](to_jsonable(ref), kind)
    out_rows = []
    try:
        out = run(ref.copy())
    except Exception:
        out = None
    if isinstance(out, list) and len(out) == len(ref):
        out_rows = prof["output_rows"](out, len(ref))
    else:
        for i in __nb2svc_spaced(len(ref), max_calls):
            out_rows += prof["output_rows"](
                run(ref.iloc[[i]].reset_index(drop=True)), 1
            )
    return in_rows, out_rows, found


def __nb2svc_item_rows(ref, kind, columns, run, to_jsonable, prof, max_rows, max_calls):
    # Any other example: the reference as a list of inputs, scored one at a time.
    import copy
    import sys

    pd = sys.modules.get("pandas")
    if pd is not None and isinstance(ref, pd.DataFrame):
        items = ref.to_dict(orient="records") if kind == "record" else ref.to_numpy()
    elif isinstance(ref, (dict, str)):
        items = [ref]
    else:
        items = list(ref)
    items = [to_jsonable(items[i]) for i in __nb2svc_spaced(len(items), max_rows)]
    in_rows, out_rows = [], []
    for item in items:
        in_rows += prof["input_rows"](item, kind)
    found = sorted({name for row in in_rows for name in row})
    for i in __nb2svc_spaced(len(items), max_calls):
        raw = copy.deepcopy(items[i])
        out_rows += prof["output_rows"](
            run(raw), len(prof["input_rows"](items[i], kind))
        )
    return in_rows, out_rows, found
