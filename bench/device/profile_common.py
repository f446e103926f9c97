"""What the device profile scripts (script_profile.py, train_profile.py) share: JSON-line output and sections that
report their own error, so one failure costs one line."""
import json
import traceback


def say(**row):
    print(json.dumps(row), flush=True)


def section(name):
    """Runs the decorated function now; an exception becomes one JSON line with the section's name."""
    def wrap(fn):
        try:
            fn()
        except Exception as e:  # noqa: BLE001 - one failing section must not cost the others
            say(section=name, error=f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}",
                where=traceback.format_exc().splitlines()[-3:])
        return fn
    return wrap
