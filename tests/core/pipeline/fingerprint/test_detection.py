"""What re-runs a stage and what does not: one real project, one real edit, per case.

Each case writes a small project, imports it, fingerprints ``pipeline.train``, applies an edit
to the files, re-imports everything from scratch and fingerprints again. The assertion is the
*exact* set of manifest keys whose hash changed, so a case also proves that nothing else moved.
``docs/change-detection.md`` maps every row of the change matrix to one of these case ids.
"""

from __future__ import annotations

import dataclasses
import importlib.metadata

import pytest

from tests.core.pipeline.fingerprint.conftest import FpProject, changed_keys


@dataclasses.dataclass(frozen=True)
class Case:
    files: dict[str, str]
    #: (file, old text, new text); applied in order.
    edits: tuple[tuple[str, str, str], ...]
    #: Keys whose hash must change; empty means the manifest must be identical.
    changed: frozenset[str]
    #: Name of a module-level list in pipeline.py holding extra objects (loaders, params).
    extra: str = ""


def case(
    files: dict[str, str],
    edits: list[tuple[str, str, str]],
    changed: set[str],
    extra: str = "",
) -> Case:
    return Case(files, tuple(edits), frozenset(changed), extra)


HELPERS = """
import functools

THRESHOLD = 0.5


def scale(x, factor=2):
    return _inner(x) * factor + THRESHOLD


def _inner(x):
    return x + 1


def unrelated(x):
    return x - 1
"""


DETECTED: dict[str, Case] = {
    # ---- the stage function itself
    "stage-body": case(
        {"pipeline.py": "def train(x):\n    return x + 1\n"},
        [("pipeline.py", "x + 1", "x + 2")],
        {"self:train"},
    ),
    "stage-signature": case(
        {"pipeline.py": "def train(x):\n    return x\n"},
        [("pipeline.py", "def train(x):", "def train(x, y=None):")],
        {"self:train"},
    ),
    "stage-default": case(
        {"pipeline.py": "def train(x=1):\n    return x\n"},
        [("pipeline.py", "x=1", "x=2")],
        {"self:train"},
    ),
    "stage-annotation": case(
        {"pipeline.py": "def train(x: int) -> int:\n    return x\n"},
        [("pipeline.py", "x: int", "x: float")],
        {"self:train"},
    ),
    "stage-sync-to-async": case(
        {"pipeline.py": "def train(x):\n    return x\n"},
        [("pipeline.py", "def train", "async def train")],
        {"self:train"},
    ),
    "local-variable-rename": case(
        {"pipeline.py": "def train(x):\n    y = x * 2\n    return y\n"},
        [("pipeline.py", "y = x * 2\n    return y", "z = x * 2\n    return z")],
        {"self:train"},
    ),
    # ---- helpers, however they are reached
    "helper-same-module": case(
        {
            "pipeline.py": """
                def helper(x):
                    return x * 2


                def train(x):
                    return helper(x)
            """
        },
        [("pipeline.py", "x * 2", "x * 3")],
        {"func:pipeline.helper"},
    ),
    "helper-from-import": case(
        {
            "helpers.py": HELPERS,
            "pipeline.py": "from helpers import scale\n\ndef train(x):\n    return scale(x)\n",
        },
        [("helpers.py", "* factor", "* factor * 1")],
        {"func:helpers.scale"},
    ),
    "helper-module-attribute": case(
        {
            "helpers.py": HELPERS,
            "pipeline.py": "import helpers\n\ndef train(x):\n    return helpers.scale(x)\n",
        },
        [("helpers.py", "factor=2", "factor=3")],
        {"func:helpers.scale"},
    ),
    "helper-import-as-submodule": case(
        {
            "pkg/__init__.py": "",
            "pkg/sub.py": "def deep(x):\n    return -x\n",
            "pipeline.py": "import pkg.sub as c\n\ndef train(x):\n    return c.deep(x)\n",
        },
        [("pkg/sub.py", "-x", "+x")],
        {"func:pkg.sub.deep"},
    ),
    "helper-dotted-module-path": case(
        {
            "pkg/__init__.py": "",
            "pkg/sub.py": "def deep(x):\n    return -x\n",
            "pipeline.py": "import pkg.sub\n\ndef train(x):\n    return pkg.sub.deep(x)\n",
        },
        [("pkg/sub.py", "-x", "+x")],
        {"func:pkg.sub.deep"},
    ),
    "helper-namespace-package": case(
        {
            "ns/tools.py": "def tool(x):\n    return x\n",
            "pipeline.py": "from ns.tools import tool\n\ndef train(x):\n    return tool(x)\n",
        },
        [("ns/tools.py", "return x", "return 2 * x")],
        {"func:ns.tools.tool"},
    ),
    "helper-reexported-by-package": case(
        {
            "pkg/__init__.py": "from pkg.impl import work\n",
            "pkg/impl.py": "def work(x):\n    return x\n",
            "pipeline.py": "from pkg import work\n\ndef train(x):\n    return work(x)\n",
        },
        [("pkg/impl.py", "return x", "return x * 2")],
        {"func:pkg.impl.work"},
    ),
    "helper-alias": case(
        {
            "helpers.py": HELPERS,
            "pipeline.py": """
                from helpers import scale

                g = scale


                def train(x):
                    return g(x)
            """,
        },
        [("helpers.py", "factor=2", "factor=3")],
        {"func:helpers.scale"},
    ),
    "helper-of-helper": case(
        {
            "helpers.py": HELPERS,
            "pipeline.py": "from helpers import scale\n\ndef train(x):\n    return scale(x)\n",
        },
        [("helpers.py", "return x + 1", "return x + 2")],
        {"func:helpers._inner"},
    ),
    "helper-imported-in-body": case(
        {
            "helpers.py": HELPERS,
            "pipeline.py": "def train(x):\n    from helpers import scale\n    return scale(x)\n",
        },
        [("helpers.py", "factor=2", "factor=3")],
        {"func:helpers.scale"},
    ),
    "module-imported-in-body": case(
        {
            "helpers.py": HELPERS,
            "pipeline.py": "def train(x):\n    import helpers\n    return helpers.scale(x)\n",
        },
        [("helpers.py", "factor=2", "factor=3")],
        {"func:helpers.scale"},
    ),
    "relative-import-in-body": case(
        {
            "app/__init__.py": "",
            "app/util.py": "def util(x):\n    return x\n",
            "app/pipeline.py": "def train(x):\n    from .util import util\n    return util(x)\n",
            "pipeline.py": "from app.pipeline import train\n",
        },
        [("app/util.py", "return x", "return x + 1")],
        {"func:app.util.util"},
    ),
    "mutual-recursion": case(
        {
            "pipeline.py": """
                def ping(n):
                    return pong(n - 1) if n else 0


                def pong(n):
                    return ping(n - 1) if n else 1


                def train(x):
                    return ping(x)
            """
        },
        [("pipeline.py", "else 1", "else 2")],
        {"func:pipeline.pong"},
    ),
    "module-object-used-whole": case(
        {
            "plugins.py": "def a():\n    return 1\n\ndef b():\n    return 2\n",
            "pipeline.py": "import plugins\n\ndef train(run):\n    return run(plugins)\n",
        },
        [("plugins.py", "return 2", "return 3")],
        {"mod:plugins"},
    ),
    "import-module-constant-name": case(
        {
            "plugins.py": "def a():\n    return 1\n",
            "pipeline.py": (
                "import importlib\n\ndef train():\n"
                "    return importlib.import_module('plugins').a()\n"
            ),
        },
        [("plugins.py", "return 1", "return 2")],
        {"mod:plugins"},
    ),
    "getattr-constant-name": case(
        {
            "helpers.py": HELPERS,
            "pipeline.py": "import helpers\n\ndef train(x):\n    return getattr(helpers, 'scale')(x)\n",
        },
        [("helpers.py", "factor=2", "factor=3")],
        {"func:helpers.scale"},
    ),
    # ---- dispatch tables and partials
    "dispatch-dict-function": case(
        {
            "ops.py": """
                def add(a, b):
                    return a + b


                def mul(a, b):
                    return a * b


                OPS = {"add": add, "mul": mul}
            """,
            "pipeline.py": "from ops import OPS\n\ndef train(op):\n    return OPS[op](2, 3)\n",
        },
        [("ops.py", "a * b", "a * b * 1")],
        {"func:ops.mul"},
    ),
    "dispatch-dict-entry": case(
        {
            "ops.py": """
                def add(a, b):
                    return a + b


                def mul(a, b):
                    return a * b


                OPS = {"add": add, "mul": mul}
            """,
            "pipeline.py": "from ops import OPS\n\ndef train(op):\n    return OPS[op](2, 3)\n",
        },
        [("ops.py", '"mul": mul', '"mul": add')],
        {"const:ops.OPS", "func:ops.mul"},  # mul is no longer reached: its key goes away
    ),
    "dispatch-list-lambda": case(
        {
            "ops.py": "STEPS = [lambda x: x + 1, lambda x: x * 2]\n",
            "pipeline.py": "from ops import STEPS\n\ndef train(x):\n    return STEPS[1](x)\n",
        },
        [("ops.py", "x * 2", "x * 3")],
        {"func:ops.STEPS[1]"},
    ),
    "module-lambda": case(
        {
            "ops.py": "square = lambda x: x * x  # noqa: E731\n",
            "pipeline.py": "from ops import square\n\ndef train(x):\n    return square(x)\n",
        },
        [("ops.py", "x * x", "x ** 2")],
        {"func:ops.square"},
    ),
    "partial-arguments": case(
        {
            "helpers.py": HELPERS + "\nhalf = functools.partial(scale, factor=0.5)\n",
            "pipeline.py": "from helpers import half\n\ndef train(x):\n    return half(x)\n",
        },
        [("helpers.py", "factor=0.5", "factor=0.25")],
        {"const:helpers.half"},
    ),
    "partial-function": case(
        {
            "helpers.py": HELPERS + "\nhalf = functools.partial(scale, factor=0.5)\n",
            "pipeline.py": "from helpers import half\n\ndef train(x):\n    return half(x)\n",
        },
        [("helpers.py", "factor=2", "factor=3")],
        {"func:helpers.scale"},
    ),
    # ---- constants
    "constant-from-import": case(
        {
            "helpers.py": HELPERS,
            "pipeline.py": "from helpers import THRESHOLD\n\ndef train(x):\n    return x > THRESHOLD\n",
        },
        [("helpers.py", "THRESHOLD = 0.5", "THRESHOLD = 0.7")],
        {"const:helpers.THRESHOLD"},
    ),
    "constant-read-by-helper": case(
        {
            "helpers.py": HELPERS,
            "pipeline.py": "from helpers import scale\n\ndef train(x):\n    return scale(x)\n",
        },
        [("helpers.py", "THRESHOLD = 0.5", "THRESHOLD = 0.7")],
        {"const:helpers.THRESHOLD"},
    ),
    "constant-module-attribute": case(
        {
            "helpers.py": HELPERS,
            "pipeline.py": "import helpers\n\ndef train(x):\n    return x > helpers.THRESHOLD\n",
        },
        [("helpers.py", "THRESHOLD = 0.5", "THRESHOLD = 0.7")],
        {"const:helpers.THRESHOLD"},
    ),
    "constant-computed": case(
        {
            "pipeline.py": "LIMIT = 2 ** 10\n\ndef train(x):\n    return min(x, LIMIT)\n",
        },
        [("pipeline.py", "2 ** 10", "2 ** 11")],
        {"const:pipeline.LIMIT"},
    ),
    "constant-in-default": case(
        {
            "pipeline.py": "LIMIT = 3\n\ndef train(x, limit=LIMIT):\n    return min(x, limit)\n",
        },
        [("pipeline.py", "LIMIT = 3", "LIMIT = 4")],
        # the name in the source, and the value bound when train was created
        {"const:pipeline.LIMIT", "default:pipeline.train.limit"},
    ),
    "bound-method-of-an-instance": case(
        {
            "pipeline.py": (
                "class Scaler:\n    def __init__(self, k):\n        self.k = k\n\n"
                "    def apply(self, x):\n        return x * self.k\n\n\n"
                "scale = Scaler(3).apply\n\n\ndef train(x):\n    return scale(x)\n"
            ),
        },
        [("pipeline.py", "Scaler(3)", "Scaler(4)")],
        {"const:pipeline.scale.__self__"},
    ),
    "method-attached-after-the-class": case(
        {
            "pipeline.py": (
                "class Model:\n    def fit(self, x):\n        return self.extra(x)\n\n\n"
                "def _extra(self, x):\n    return x + 1\n\n\nModel.extra = _extra\n\n\n"
                "def train(x):\n    return Model().fit(x)\n"
            ),
        },
        [("pipeline.py", "return x + 1", "return x + 2")],
        {"func:pipeline._extra"},
    ),
    "singledispatch-implementation": case(
        {
            "pipeline.py": (
                "import functools\n\n\n@functools.singledispatch\ndef describe(x):\n"
                "    return 'thing'\n\n\n@describe.register\ndef _(x: int):\n"
                "    return 'int'\n\n\ndef train(x):\n    return describe(x)\n"
            ),
        },
        [("pipeline.py", "return 'int'", "return 'integer'")],
        {"func:pipeline._"},
    ),
    "namedtuple-defaults": case(
        {
            "pipeline.py": (
                "import collections\n\nPoint = collections.namedtuple('Point', ['x', 'y'], "
                "defaults=[5])\n\n\ndef train(x):\n    return Point(x).y\n"
            ),
        },
        [("pipeline.py", "defaults=[5]", "defaults=[6]")],
        {"class:pipeline.Point"},
    ),
    "functional-enum": case(
        {
            "pipeline.py": (
                "import enum\n\nColor = enum.Enum('Color', {'RED': 1, 'BLUE': 2})\n\n\n"
                "def train(x):\n    return Color(x).name\n"
            ),
        },
        [("pipeline.py", "'BLUE': 2", "'BLUE': 3")],
        {"class:pipeline.Color"},
    ),
    "class-made-by-type": case(
        {
            "pipeline.py": (
                "Box = type('Box', (), {'size': 3})\n\n\ndef train(x):\n    return Box.size * x\n"
            ),
        },
        [("pipeline.py", "'size': 3", "'size': 4")],
        {"class:pipeline.Box"},
    ),
    "registry-in-a-defaultdict": case(
        {
            "pipeline.py": (
                "import collections\n\nSTEPS = collections.defaultdict(list)\n\n\n"
                "def step(fn):\n    STEPS['main'].append(fn)\n    return fn\n\n\n"
                "@step\ndef first(x):\n    return x + 1\n\n\n"
                "def train(x):\n    for fn in STEPS['main']:\n        x = fn(x)\n    return x\n"
            ),
        },
        [("pipeline.py", "return x + 1", "return x + 2")],
        {"func:pipeline.first"},
    ),
    "registry-in-an-ordered-dict": case(
        {
            "pipeline.py": (
                "import collections\n\nOPS = collections.OrderedDict()\nOPS['inc'] = lambda x: x + 1\n\n\n"
                "def train(x):\n    return OPS['inc'](x)\n"
            ),
        },
        [("pipeline.py", "lambda x: x + 1", "lambda x: x + 2")],
        {"func:pipeline.<lambda>"},
    ),
    "subclasses-collected-by-init-subclass": case(
        {
            "pipeline.py": (
                "class Plugin:\n    found = []\n\n    def __init_subclass__(cls):\n"
                "        Plugin.found.append(cls)\n\n\n"
                "class Upper(Plugin):\n    def run(self, x):\n        return x.upper()\n\n\n"
                "def train(x):\n    return [p().run(x) for p in Plugin.found]\n"
            ),
        },
        [("pipeline.py", "return x.upper()", "return x.lower()")],
        {"func:pipeline.Upper.run"},
    ),
    "lambda-default-bound-in-a-loop": case(
        {
            "pipeline.py": (
                "SCALES = [lambda v, k=k: v * k for k in (1, 2, 3)]\n\n"
                "def train(x):\n    return SCALES[2](x)\n"
            ),
        },
        [("pipeline.py", "(1, 2, 3)", "(1, 2, 4)")],
        {"default:pipeline.SCALES[2].k"},
    ),
    "keyword-only-default": case(
        {
            "helpers.py": "BASE = 10\n\ndef shift(x, *, by=BASE + 1):\n    return x + by\n",
            "pipeline.py": "from helpers import shift\n\ndef train(x):\n    return shift(x)\n",
        },
        [("helpers.py", "BASE = 10", "BASE = 20")],
        {"const:helpers.BASE", "default:helpers.shift.by"},
    ),
    "constant-in-closure-factory": case(
        {
            "helpers.py": """
                def make_scaler(k):
                    def inner(x):
                        return x * k
                    return inner


                triple = make_scaler(3)
            """,
            "pipeline.py": "from helpers import triple\n\ndef train(x):\n    return triple(x)\n",
        },
        [("helpers.py", "make_scaler(3)", "make_scaler(4)")],
        {"closure:helpers.triple.k"},
    ),
    "closure-factory-code": case(
        {
            "helpers.py": """
                def make_scaler(k):
                    def inner(x):
                        return x * k
                    return inner


                triple = make_scaler(3)
            """,
            "pipeline.py": "from helpers import triple\n\ndef train(x):\n    return triple(x)\n",
        },
        [("helpers.py", "return x * k", "return x * k + 1")],
        {"func:helpers.make_scaler"},
    ),
    "closure-captured-function": case(
        {
            "helpers.py": """
                def base(x):
                    return x


                def twice(func):
                    def run(x):
                        return func(func(x))
                    return run


                quad = twice(base)
            """,
            "pipeline.py": "from helpers import quad\n\ndef train(x):\n    return quad(x)\n",
        },
        [("helpers.py", "return x\n", "return x + 1\n")],
        {"func:helpers.base"},
    ),
    "stage-is-closure": case(
        {
            "pipeline.py": """
                def make_stage(n):
                    def train(x):
                        return x * n
                    return train


                train = make_stage(2)
            """,
        },
        [("pipeline.py", "make_stage(2)", "make_stage(5)")],
        {"closure:pipeline.make_stage.<locals>.train.n"},
    ),
    "stage-is-partial": case(
        {
            "pipeline.py": """
                import functools


                def _train(x, k):
                    return x * k


                train = functools.partial(_train, k=2)
            """,
        },
        [("pipeline.py", "k=2", "k=3")],
        {"self:_train:args"},
    ),
    # ---- classes
    "class-method-constructor-call": case(
        {
            "model.py": """
                class Model:
                    alpha = 1.0

                    def fit(self, x):
                        return x * self.alpha

                    def predict(self, x):
                        return self.fit(x)
            """,
            "pipeline.py": "from model import Model\n\ndef train(x):\n    return Model().predict(x)\n",
        },
        [("model.py", "return x * self.alpha", "return x * self.alpha * 2")],
        {"func:model.Model.fit"},
    ),
    "class-attribute": case(
        {
            "model.py": """
                class Model:
                    alpha = 1.0

                    def fit(self, x):
                        return x * self.alpha
            """,
            "pipeline.py": "from model import Model\n\ndef train(x):\n    return Model().fit(x)\n",
        },
        [("model.py", "alpha = 1.0", "alpha = 2.0")],
        {"class:model.Model"},
    ),
    "class-from-annotation": case(
        {
            "model.py": """
                class Model:
                    def fit(self, x):
                        return x
            """,
            "pipeline.py": "from model import Model\n\ndef train(m: Model, x):\n    return m.fit(x)\n",
        },
        [("model.py", "return x", "return -x")],
        {"func:model.Model.fit"},
    ),
    "class-from-string-annotation": case(
        {
            "model.py": """
                class Model:
                    def fit(self, x):
                        return x
            """,
            "pipeline.py": (
                "from model import Model\n\ndef train(m: 'list[Model]', x):\n"
                "    return m[0].fit(x)\n"
            ),
        },
        [("model.py", "return x", "return -x")],
        {"func:model.Model.fit"},
    ),
    "class-user-base-class": case(
        {
            "model.py": """
                class Base:
                    def prepare(self, x):
                        return x


                class Model(Base):
                    def fit(self, x):
                        return self.prepare(x)
            """,
            "pipeline.py": "from model import Model\n\ndef train(x):\n    return Model().fit(x)\n",
        },
        [("model.py", "return x\n", "return x * 2\n")],
        {"func:model.Base.prepare"},
    ),
    "class-method-uses-helper": case(
        {
            "helpers.py": HELPERS,
            "model.py": """
                from helpers import scale


                class Model:
                    def fit(self, x):
                        return scale(x)
            """,
            "pipeline.py": "from model import Model\n\ndef train(x):\n    return Model().fit(x)\n",
        },
        [("helpers.py", "factor=2", "factor=3")],
        {"func:helpers.scale"},
    ),
    "class-property-setter": case(
        {
            "model.py": """
                class Box:
                    def __init__(self):
                        self._v = 0

                    @property
                    def v(self):
                        return self._v

                    @v.setter
                    def v(self, value):
                        self._v = value
            """,
            "pipeline.py": "from model import Box\n\ndef train(x):\n    b = Box()\n    b.v = x\n    return b.v\n",
        },
        [("model.py", "self._v = value", "self._v = value * 2")],
        {"func:model.Box.v"},
    ),
    "dataclass-field-default": case(
        {
            "model.py": """
                import dataclasses


                @dataclasses.dataclass
                class Config:
                    depth: int = 3
            """,
            "pipeline.py": "from model import Config\n\ndef train(x):\n    return Config().depth * x\n",
        },
        [("model.py", "depth: int = 3", "depth: int = 4")],
        {"class:model.Config"},
    ),
    "pydantic-field-default": case(
        {
            "pipeline.py": """
                import pydantic


                class Settings(pydantic.BaseModel):
                    rate: float = 0.1


                def train(s: Settings):
                    return s.rate
            """,
        },
        [("pipeline.py", "rate: float = 0.1", "rate: float = 0.2")],
        {"class:pipeline.Settings"},
    ),
    "instance-constant": case(
        {
            "model.py": """
                import dataclasses


                @dataclasses.dataclass(frozen=True)
                class Config:
                    depth: int


                CONFIG = Config(depth=3)
            """,
            "pipeline.py": "from model import CONFIG\n\ndef train(x):\n    return CONFIG.depth * x\n",
        },
        [("model.py", "Config(depth=3)", "Config(depth=4)")],
        {"const:model.CONFIG"},
    ),
    "enum-member-constant": case(
        {
            "pipeline.py": """
                import enum


                class Mode(enum.Enum):
                    FAST = "fast"
                    SLOW = "slow"


                DEFAULT = Mode.FAST


                def train(x):
                    return DEFAULT.value
            """,
        },
        [("pipeline.py", "DEFAULT = Mode.FAST", "DEFAULT = Mode.SLOW")],
        {"const:pipeline.DEFAULT"},
    ),
    # ---- decorators
    "decorator-on-stage": case(
        {
            "deco.py": """
                import functools


                def log_calls(func):
                    @functools.wraps(func)
                    def wrapper(*args, **kwargs):
                        return func(*args, **kwargs)
                    return wrapper
            """,
            "pipeline.py": "from deco import log_calls\n\n@log_calls\ndef train(x):\n    return x\n",
        },
        [("deco.py", "return func(*args, **kwargs)", "return func(*args, **kwargs) or None")],
        {"func:deco.log_calls"},
    ),
    "decorated-stage-body": case(
        {
            "deco.py": """
                import functools


                def log_calls(func):
                    @functools.wraps(func)
                    def wrapper(*args, **kwargs):
                        return func(*args, **kwargs)
                    return wrapper
            """,
            "pipeline.py": "from deco import log_calls\n\n@log_calls\ndef train(x):\n    return x\n",
        },
        [("pipeline.py", "return x", "return -x")],
        {"self:train"},
    ),
    "decorator-arguments": case(
        {
            "deco.py": """
                import functools


                def retry(times):
                    def decorate(func):
                        @functools.wraps(func)
                        def wrapper(*args):
                            for _ in range(times - 1):
                                func(*args)
                            return func(*args)
                        return wrapper
                    return decorate
            """,
            "pipeline.py": "from deco import retry\n\n@retry(3)\ndef train(x):\n    return x\n",
        },
        [("pipeline.py", "@retry(3)", "@retry(4)")],
        {"self:train", "closure:deco.retry.<locals>.decorate.<locals>.wrapper.times"},
    ),
    "decorator-on-helper": case(
        {
            "deco.py": """
                import functools


                def log_calls(func):
                    @functools.wraps(func)
                    def wrapper(*args, **kwargs):
                        return func(*args, **kwargs)
                    return wrapper
            """,
            "helpers.py": "from deco import log_calls\n\n@log_calls\ndef helper(x):\n    return x\n",
            "pipeline.py": "from helpers import helper\n\ndef train(x):\n    return helper(x)\n",
        },
        [("deco.py", "return func(*args, **kwargs)", "return func(*args, **kwargs) or 0")],
        {"func:deco.log_calls"},
    ),
    "decorated-helper-body": case(
        {
            "helpers.py": (
                "import functools\n\n@functools.lru_cache(maxsize=None)\n"
                "def helper(x):\n    return x\n"
            ),
            "pipeline.py": "from helpers import helper\n\ndef train(x):\n    return helper(x)\n",
        },
        [("helpers.py", "return x", "return x * 2")],
        {"func:helpers.helper"},
    ),
    # ---- loaders and params models (extra objects)
    "loader-configuration": case(
        {
            "pipeline.py": """
                from pivot import loaders

                EXTRA = [loaders.CSV(separator=",")]


                def train(x):
                    return x
            """,
        },
        [("pipeline.py", 'separator=","', 'separator=";"')],
        {"loader-config:CSV"},
        extra="EXTRA",
    ),
    "custom-loader-code": case(
        {
            "myloaders.py": """
                import dataclasses
                from pathlib import Path

                from pivot.loaders import Loader


                @dataclasses.dataclass(frozen=True)
                class Lines(Loader[list]):
                    strip: bool = True

                    def load(self, path: Path) -> list:
                        return path.read_text().splitlines()
            """,
            "pipeline.py": """
                from myloaders import Lines

                EXTRA = [Lines()]


                def train(x):
                    return x
            """,
        },
        [
            (
                "myloaders.py",
                "return path.read_text().splitlines()",
                "return path.read_text().split()",
            )
        ],
        {"func:myloaders.Lines.load"},
        extra="EXTRA",
    ),
    "custom-loader-configuration": case(
        {
            "myloaders.py": """
                import dataclasses
                from pathlib import Path

                from pivot.loaders import Loader


                @dataclasses.dataclass(frozen=True)
                class Lines(Loader[list]):
                    strip: bool = True

                    def load(self, path: Path) -> list:
                        return path.read_text().splitlines()
            """,
            "pipeline.py": """
                from myloaders import Lines

                EXTRA = [Lines()]


                def train(x):
                    return x
            """,
        },
        [("pipeline.py", "Lines()]", "Lines(strip=False)]")],
        {"loader-config:myloaders.Lines"},
        extra="EXTRA",
    ),
    "params-model-default": case(
        {
            "pipeline.py": """
                import pydantic


                class TrainParams(pydantic.BaseModel):
                    learning_rate: float = 0.01


                EXTRA = [TrainParams]


                def train(x):
                    return x
            """,
        },
        [("pipeline.py", "0.01", "0.02")],
        {"class:pipeline.TrainParams"},
        extra="EXTRA",
    ),
}


# one case per kind of constant value
for _name, (_old, _new) in {
    "int": ("3", "4"),
    "float": ("0.5", "0.25"),
    "str": ("'a'", "'b'"),
    "bytes": ("b'a'", "b'b'"),
    "bool": ("True", "False"),
    "none": ("None", "0"),
    "tuple": ("(1, 2)", "(1, 3)"),
    "list": ("[1, 2]", "[2, 1]"),
    "dict": ("{'a': 1}", "{'a': 2}"),
    "set": ("{'x', 'y'}", "{'x', 'z'}"),
    "frozenset": ("frozenset({1, 2})", "frozenset({1, 3})"),
    "nested": ("{'k': [1, (2, {3})]}", "{'k': [1, (2, {4})]}"),
}.items():
    DETECTED[f"constant-{_name}"] = case(
        {"pipeline.py": f"VALUE = {_old}\n\ndef train():\n    return VALUE\n"},
        [("pipeline.py", f"VALUE = {_old}", f"VALUE = {_new}")],
        {"const:pipeline.VALUE"},
    )


NOT_DETECTED: dict[str, Case] = {
    "type-alias-only-in-helper-annotations": case(
        {
            "helpers.py": (
                "Vector = list[float]\n\n\ndef total(values: Vector) -> float:\n"
                "    return sum(values)\n"
            ),
            "pipeline.py": "from helpers import total\n\ndef train(x):\n    return total(x)\n",
        },
        [("helpers.py", "Vector = list[float]", "Vector = list[int]")],
        set(),
    ),
    "comment-in-stage": case(
        {"pipeline.py": "def train(x):\n    return x + 1\n"},
        [("pipeline.py", "return x + 1", "# add one\n    return x + 1  # really")],
        set(),
    ),
    "comment-in-helper": case(
        {
            "helpers.py": HELPERS,
            "pipeline.py": "from helpers import scale\n\ndef train(x):\n    return scale(x)\n",
        },
        [("helpers.py", "def _inner(x):", "# the inner step\ndef _inner(x):  # noqa")],
        set(),
    ),
    "docstring-in-stage": case(
        {"pipeline.py": 'def train(x):\n    """Train."""\n    return x\n'},
        [
            (
                "pipeline.py",
                '"""Train."""',
                '"""Train the model, carefully.\n\n    More words.\n    """',
            )
        ],
        set(),
    ),
    "docstring-added-to-helper": case(
        {
            "helpers.py": HELPERS,
            "pipeline.py": "from helpers import scale\n\ndef train(x):\n    return scale(x)\n",
        },
        [("helpers.py", "def scale(x, factor=2):", 'def scale(x, factor=2):\n    """Scale x."""')],
        set(),
    ),
    "docstring-in-class": case(
        {
            "model.py": 'class Model:\n    """A model."""\n\n    def fit(self, x):\n        """Fit."""\n        return x\n',
            "pipeline.py": "from model import Model\n\ndef train(x):\n    return Model().fit(x)\n",
        },
        [
            ("model.py", '"""A model."""', '"""A better model."""'),
            ("model.py", '"""Fit."""', '"""Fit it."""'),
        ],
        set(),
    ),
    "module-docstring": case(
        {
            "helpers.py": '"""Helpers."""\n' + HELPERS,
            "pipeline.py": "from helpers import scale\n\ndef train(x):\n    return scale(x)\n",
        },
        [("helpers.py", '"""Helpers."""', '"""Helpers, documented."""')],
        set(),
    ),
    "blank-lines": case(
        {
            "helpers.py": HELPERS,
            "pipeline.py": "from helpers import scale\n\ndef train(x):\n    y = scale(x)\n    return y\n",
        },
        [
            ("pipeline.py", "    y = scale(x)\n", "\n\n    y = scale(x)\n\n"),
            ("helpers.py", "THRESHOLD = 0.5", "\n\nTHRESHOLD = 0.5\n\n"),
        ],
        set(),
    ),
    "formatting": case(
        {
            "pipeline.py": "def train(x, y=1):\n    return max(x, y, key=abs)\n",
        },
        [
            (
                "pipeline.py",
                "def train(x, y=1):\n    return max(x, y, key=abs)",
                "def train(\n    x,\n    y = 1,\n):\n    return (max(\n        x, y,\n        key = abs,\n    ))",
            )
        ],
        set(),
    ),
    "quote-style": case(
        {"pipeline.py": "NAME = 'a'\n\ndef train():\n    return NAME + 'b'\n"},
        [("pipeline.py", "NAME = 'a'", 'NAME = "a"'), ("pipeline.py", "+ 'b'", '+ "b"')],
        set(),
    ),
    "unrelated-function-same-module": case(
        {
            "helpers.py": HELPERS,
            "pipeline.py": "from helpers import scale\n\ndef train(x):\n    return scale(x)\n",
        },
        [("helpers.py", "return x - 1", "return x - 2")],
        set(),
    ),
    "unrelated-constant": case(
        {
            "pipeline.py": "USED = 1\nUNUSED = 2\n\ndef train():\n    return USED\n",
        },
        [("pipeline.py", "UNUSED = 2", "UNUSED = 3")],
        set(),
    ),
    "unrelated-stage-in-same-file": case(
        {
            "pipeline.py": "def train(x):\n    return x\n\ndef evaluate(x):\n    return -x\n",
        },
        [("pipeline.py", "return -x", "return -2 * x")],
        set(),
    ),
    "set-literal-order": case(
        {"pipeline.py": "TAGS = {'a', 'b', 'c'}\n\ndef train():\n    return TAGS\n"},
        [("pipeline.py", "{'a', 'b', 'c'}", "{'c', 'a', 'b'}")],
        set(),
    ),
    "dict-literal-order": case(
        {"pipeline.py": "OPTS = {'a': 1, 'b': 2}\n\ndef train():\n    return OPTS\n"},
        [("pipeline.py", "{'a': 1, 'b': 2}", "{'b': 2, 'a': 1}")],
        set(),
    ),
    "code-moved-down-a-file": case(
        {
            "helpers.py": HELPERS,
            "pipeline.py": "from helpers import scale\n\ndef train(x):\n    return scale(x)\n",
        },
        [
            (
                "helpers.py",
                "import functools\n",
                "import functools\n\n\ndef another():\n    return 0\n",
            )
        ],
        set(),
    ),
}


def _run(fp_project: FpProject, spec: Case) -> set[str]:
    fp_project.write_all(spec.files)
    before = fp_project.fingerprint(extra=spec.extra or ())
    for file, old, new in spec.edits:
        fp_project.edit(file, old, new)
    after = fp_project.fingerprint(extra=spec.extra or ())
    assert not after.warnings, after.warnings
    for key in spec.changed:
        assert key in before.manifest or key in after.manifest, (key, sorted(after.manifest))
    return changed_keys(before, after)


@pytest.mark.parametrize("name", sorted(DETECTED))
def test_change_is_detected(fp_project: FpProject, name: str) -> None:
    spec = DETECTED[name]
    assert _run(fp_project, spec) == spec.changed


@pytest.mark.parametrize("name", sorted(NOT_DETECTED))
def test_change_is_not_detected(fp_project: FpProject, name: str) -> None:
    assert _run(fp_project, NOT_DETECTED[name]) == set()


def test_third_party_packages_are_recorded_by_version(fp_project: FpProject) -> None:
    fp_project.write(
        "pipeline.py",
        """
        import polars as pl
        import yaml
        import json


        def train(path):
            return pl.read_csv(path).height + len(yaml.safe_dump({})) + len(json.dumps(1))
        """,
    )
    fp = fp_project.fingerprint()
    assert fp.manifest["pkg:polars"] == importlib.metadata.version("polars")
    assert fp.manifest["pkg:pyyaml"] == importlib.metadata.version("pyyaml")
    assert not [key for key in fp.manifest if "json" in key]  # standard library: ignored
    assert not [key for key in fp.manifest if key.startswith("pkg:pivot")]


def test_packages_of_lazy_imports_are_recorded_without_importing(fp_project: FpProject) -> None:
    fp_project.write("pipeline.py", "def train():\n    import yaml\n    return yaml\n")
    fp = fp_project.fingerprint()
    assert fp.manifest["pkg:pyyaml"] == importlib.metadata.version("pyyaml")


def test_unused_imports_do_not_add_packages(fp_project: FpProject) -> None:
    fp_project.write("pipeline.py", "import polars\n\ndef train(x):\n    return x\n")
    assert "pkg:polars" not in fp_project.fingerprint().manifest


def test_builtin_loader_code_is_fingerprinted(fp_project: FpProject) -> None:
    fp_project.write(
        "pipeline.py",
        """
        from pivot import loaders

        EXTRA = [loaders.CSV(), loaders.CSV(separator=";"), loaders.JSON()]


        def train(x):
            return x
        """,
    )
    fp = fp_project.fingerprint(extra="EXTRA")
    for key in (
        "loader:CSV",
        "loader:CSV:load",
        "loader:CSV:save",
        "loader:JSON:load",
        "loader:Loader",
    ):
        assert key in fp.manifest
    assert fp.manifest["pkg:polars"] == importlib.metadata.version("polars")  # CSV.load imports it
    assert fp.sources["loader:CSV:load"].file == "pivot/loaders.py"
    config = fp.sources["loader-config:CSV"].source
    assert "separator=','" in config and "separator=';'" in config
    assert "loader-config:JSON" in fp.manifest
    assert not fp.warnings


def test_params_instances_add_no_configuration_key(fp_project: FpProject) -> None:
    fp_project.write(
        "pipeline.py",
        """
        import pydantic


        class TrainParams(pydantic.BaseModel):
            lr: float = 0.1


        EXTRA = [TrainParams(lr=0.5)]


        def train(x):
            return x
        """,
    )
    fp = fp_project.fingerprint(extra="EXTRA")
    assert "class:pipeline.TrainParams" in fp.manifest
    assert not [key for key in fp.manifest if key.startswith("loader")]


def test_keys_and_sources_describe_where_code_lives(fp_project: FpProject) -> None:
    fp_project.write_all(
        {
            "helpers.py": HELPERS,
            "pipeline.py": "from helpers import scale\n\n\ndef train(x):\n    return scale(x)\n",
        }
    )
    fp = fp_project.fingerprint()
    assert list(fp.manifest) == sorted(fp.manifest)
    assert set(fp.manifest) == {
        "self:train",
        "func:helpers.scale",
        "func:helpers._inner",
        "const:helpers.THRESHOLD",
    }
    assert all(len(value) == 16 and int(value, 16) >= 0 for value in fp.manifest.values())
    scale = fp.sources["func:helpers.scale"]
    assert (scale.file, scale.line) == ("helpers.py", 6)
    assert scale.source.startswith("def scale(x, factor=2):")
    assert fp.sources["const:helpers.THRESHOLD"].source == "THRESHOLD = 0.5\n"
    assert fp.sources["self:train"].file == "pipeline.py"
    assert fp.files == tuple(
        sorted([str(fp_project.root / "helpers.py"), str(fp_project.root / "pipeline.py")])
    )


def test_same_code_in_another_directory_hashes_the_same(
    fp_project: FpProject, tmp_path_factory: pytest.TempPathFactory
) -> None:
    files = {
        "helpers.py": HELPERS
        + "\nfrom pathlib import Path\nDATA = Path(__file__).parent / 'data'\n",
        "pipeline.py": "from helpers import scale, DATA\n\ndef train(x):\n    return scale(x), DATA\n",
    }
    fp_project.write_all(files)
    first = fp_project.fingerprint()
    moved = FpProject(tmp_path_factory.mktemp("elsewhere"))
    moved.write_all(files)
    import sys

    sys.path.insert(0, str(moved.root))
    try:
        fp_project.forget()
        second = moved.fingerprint()
    finally:
        sys.path.remove(str(moved.root))
        moved.restore()
    assert first.manifest == second.manifest
    assert "<project>/data" in second.sources["const:helpers.DATA"].source
