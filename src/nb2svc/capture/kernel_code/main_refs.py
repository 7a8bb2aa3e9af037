# The top-level names of __main__ classes and functions that pickling the loaded
# objects refers to (nb2svc.definitions; run after the load code).
#
# Runs in the notebook's kernel, not in nb2svc: stdlib only, names prefixed
# __nb2svc_ so that they clash with nothing the notebook defines.


def __nb2svc_main_refs(values):
    import pickle

    found = set()

    class Sink:
        def write(self, data):
            return len(data)

    class Finder(pickle.Pickler):
        def reducer_override(self, obj):
            if (isinstance(obj, type) or callable(obj)) and getattr(
                obj, "__module__", None
            ) == "__main__":
                qualname = getattr(obj, "__qualname__", "")
                # A lambda or a nested definition is saved by value or not at all.
                if qualname and "<" not in qualname:
                    found.add(qualname.split(".")[0])
            return NotImplemented

    for value in values:
        try:  # noqa: SIM105 (no module-level import in the notebook's namespace)
            Finder(Sink(), protocol=pickle.HIGHEST_PROTOCOL).dump(value)
        except Exception:
            pass
    return sorted(found)
