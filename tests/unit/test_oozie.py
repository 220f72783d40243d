"""Oozie orchestration (``oozie/``): valid against Oozie's own schemas and consistent with jobs/ and conf/.

The schemas are the ones shipped in ``org.apache.oozie:oozie-client:5.2.1``, resolved by
``scripts/fetch-oozie-xsd.sh`` (mvn, into ``var/oozie``; quick when already there) and applied
by the JDK's validator (``jvm/oozie/src/XsdValidate.java``), so no XML library joins the Python
environment. Each ``<spark>`` element is also validated alone against ``spark-action-1.0.xsd``,
and broken copies of the files must fail, so the check cannot pass by validating nothing.
No Spark starts.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from ntl_spark.cli import parse_args
from ntl_spark.config import load_config
from ntl_spark.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
OOZIE = ROOT / "oozie"
XSD_DIR = ROOT / "var" / "oozie" / "xsd"
VALIDATOR = ROOT / "jvm" / "oozie" / "src" / "XsdValidate.java"

WF = "uri:oozie:workflow:1.0"
SPARK = "uri:oozie:spark-action:1.0"
COORD = "uri:oozie:coordinator:0.5"
WF_SCHEMAS = ("oozie-workflow-1.0.xsd", "spark-action-1.0.xsd", "email-action-0.2.xsd")
SPARK_SCHEMAS = ("spark-action-1.0.xsd",)
COORD_SCHEMAS = ("oozie-coordinator-0.5.xsd",)

# The monthly cycle, as the demo runs it (ntl_spark/demo.py): data gate after features, model
# gate after train, the DeepDAICE branch before publish.
CYCLE = ["ingest", "features", "validate_data", "train", "validate_model", "score", "publish"]
DEEP_CYCLE = CYCLE[:-1] + ["windows", "train_deep", "score_deep", "publish"]

EL = re.compile(r"\$\{([^}]*)\}")
EL_WORDS = {"eq", "ne", "lt", "gt", "le", "ge", "and", "or", "not", "empty", "true", "false", "null", "div", "mod"}


def q(ns: str, tag: str) -> str:
    return f"{{{ns}}}{tag}"


# ------------------------------------------------------------------ files
def read_properties(path: Path) -> dict[str, str]:
    """job.properties as a dict, with ``${name}`` references to other entries resolved."""
    raw: dict[str, str] = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith(("#", "!")):
            key, _, value = line.partition("=")
            raw[key.strip()] = value.strip()

    def resolve(value: str, seen: tuple[str, ...] = ()) -> str:
        def one(m: re.Match[str]) -> str:
            name = m.group(1)
            assert name in raw and name not in seen, f"job.properties: ${{{name}}} is undefined or circular"
            return resolve(raw[name], (*seen, name))

        return EL.sub(one, value)

    return {k: resolve(v) for k, v in raw.items()}


def el_names(text: str) -> set[str]:
    """Parameter names an XML text uses in ``${...}`` (EL functions, literals and operators left out)."""
    names = set()
    for expr in EL.findall(text):
        expr = re.sub(r"'[^']*'|\"[^\"]*\"", " ", expr)
        for m in re.finditer(r"[A-Za-z_][\w.]*(:[A-Za-z_]\w*)?\s*(\()?", expr):
            token = m.group(0).rstrip("( ").strip()
            if m.group(1) or m.group(2) or token in EL_WORDS:
                continue
            names.add(token)
    return names


@pytest.fixture(scope="module")
def props() -> dict[str, str]:
    return read_properties(OOZIE / "job.properties")


@pytest.fixture(scope="module")
def wf() -> ET.Element:
    return ET.parse(OOZIE / "workflow.xml").getroot()


@pytest.fixture(scope="module")
def coord() -> ET.Element:
    return ET.parse(OOZIE / "coordinator.xml").getroot()


def nodes(wf: ET.Element) -> dict[str, ET.Element]:
    return {n.get("name"): n for n in wf if n.get("name")}


def spark_actions(wf: ET.Element) -> dict[str, ET.Element]:
    """action name -> its <spark> element, in document order."""
    out = {}
    for action in wf.iter(q(WF, "action")):
        spark = action.find(q(SPARK, "spark"))
        if spark is not None:
            out[action.get("name")] = spark
    return out


def wf_parameters(wf: ET.Element) -> dict[str, str | None]:
    """<parameters>: name -> default (None = required at submission)."""
    out: dict[str, str | None] = {}
    for prop in wf.iterfind(f"{q(WF, 'parameters')}/{q(WF, 'property')}"):
        value = prop.find(q(WF, "value"))
        out[prop.findtext(q(WF, "name"))] = None if value is None else (value.text or "")
    return out


def coord_configuration(coord: ET.Element) -> dict[str, str]:
    """What the coordinator hands the workflow: name -> EL text."""
    path = f"{q(COORD, 'action')}/{q(COORD, 'workflow')}/{q(COORD, 'configuration')}/{q(COORD, 'property')}"
    return {p.findtext(q(COORD, "name")): p.findtext(q(COORD, "value")) for p in coord.iterfind(path)}


# ------------------------------------------------------------------ coordinator EL, emulated
OOZIE_TS = "%Y-%m-%dT%H:%MZ"


def java_pattern(pattern: str) -> str:
    """A SimpleDateFormat pattern (the subset used here) as a strftime format."""
    out, i = [], 0
    letters = {"yyyy": "%Y", "MM": "%m", "dd": "%d", "HH": "%H", "mm": "%M"}
    while i < len(pattern):
        c = pattern[i]
        if c == "'":
            end = pattern.index("'", i + 1)
            out.append(pattern[i + 1:end].replace("%", "%%") or "'")
            i = end + 1
        elif c.isalpha():
            run = re.match(r"(\w)\1*", pattern[i:]).group(0)
            if run not in letters:
                raise ValueError(f"pattern letter run {run!r} not emulated")
            out.append(letters[run])
            i += len(run)
        else:
            out.append(c.replace("%", "%%"))
            i += 1
    return "".join(out)


def date_offset(ts: str, n: int, unit: str) -> str:
    """``coord:dateOffset``: Calendar.add in UTC (a month step keeps the day, clamped to the month's end)."""
    t = dt.datetime.strptime(ts, OOZIE_TS)
    if unit in ("MONTH", "YEAR"):
        months = t.year * 12 + t.month - 1 + n * (12 if unit == "YEAR" else 1)
        year, month = divmod(months, 12)
        t = t.replace(year=year, month=month + 1, day=min(t.day, calendar.monthrange(year, month + 1)[1]))
    else:
        unit_name = {"DAY": "days", "HOUR": "hours", "MINUTE": "minutes"}[unit]
        t += dt.timedelta(**{unit_name: n})
    return t.strftime(OOZIE_TS)


def eval_coord_el(text: str, nominal: str) -> str:
    """Evaluate the coord:nominalTime / dateOffset / formatTime expressions in ``text`` for a nominal time."""
    funcs = {
        "coord:nominalTime": lambda: nominal,
        "coord:dateOffset": date_offset,
        "coord:formatTime": lambda ts, pattern: dt.datetime.strptime(ts, OOZIE_TS).strftime(java_pattern(pattern)),
    }

    def skip_blanks(s: str, i: int) -> int:
        return len(s) - len(s[i:].lstrip())

    def parse(s: str, i: int) -> tuple[object, int]:
        i = skip_blanks(s, i)
        if s[i] in "'\"":
            end = s.index(s[i], i + 1)
            return s[i + 1:end], end + 1
        m = re.match(r"-?\d+", s[i:])
        if m:
            return int(m.group(0)), i + len(m.group(0))
        m = re.match(r"\w+:\w+", s[i:])
        assert m, f"cannot read EL at {s[i:]!r}"
        name, i = m.group(0), i + len(m.group(0))
        assert s[i] == "(", f"{name}: '(' expected"
        args, i = [], i + 1
        while s[i] != ")":
            arg, i = parse(s, i)
            args.append(arg)
            i = skip_blanks(s, i)
            if s[i] == ",":
                i += 1
        return funcs[name](*args), i + 1

    def one(m: re.Match[str]) -> str:
        value, end = parse(m.group(1), 0)
        assert m.group(1)[end:].strip() == "", f"trailing EL text in {m.group(0)}"
        return str(value)

    return EL.sub(one, text)


def expected_month_keys(nominal: str) -> dict[str, str]:
    t = dt.datetime.strptime(nominal, OOZIE_TS).date()
    first = t.replace(day=1)
    last_prev = first - dt.timedelta(days=1)
    return {"periodStart": last_prev.replace(day=1).isoformat(), "periodEnd": last_prev.isoformat(),
            "scoredOn": first.isoformat()}


@pytest.fixture(scope="module")
def params(props: dict[str, str], wf: ET.Element, coord: ET.Element) -> dict[str, str]:
    """Every workflow parameter's value for the first run: defaults, job.properties, the coordinator's."""
    values = {k: v for k, v in wf_parameters(wf).items() if v is not None}
    values.update(props)
    values.update({k: eval_coord_el(v, props["coordStart"]) for k, v in coord_configuration(coord).items()})
    return values


def substitute(text: str, values: dict[str, str]) -> str:
    def one(m: re.Match[str]) -> str:
        assert m.group(1) in values, f"${{{m.group(1)}}} has no value (not in job.properties nor the coordinator)"
        return values[m.group(1)]

    return EL.sub(one, text)


# ------------------------------------------------------------------ schema validation
def validate(pairs: list[tuple[tuple[str, ...], Path]]) -> dict[str, list[str]]:
    """Run the JDK validator once over (schemas, file) pairs; file -> error lines."""
    java = shutil.which("java")
    assert java, "java not found (the project needs Java 17: scripts/bootstrap.sh)"
    args = []
    for schemas, path in pairs:
        args += [",".join(str(XSD_DIR / s) for s in schemas), str(path)]
    proc = subprocess.run([java, str(VALIDATOR), *args], capture_output=True, text=True, timeout=300)
    assert proc.returncode in (0, 1), f"validator failed to run ({proc.returncode}): {proc.stderr}{proc.stdout}"
    errors: dict[str, list[str]] = {str(path): [] for _, path in pairs}
    for line in proc.stdout.splitlines():
        path = next((p for p in errors if line.startswith(p + ":")), None)
        assert path, f"unexpected validator output: {line}"
        errors[path].append(line)
    return errors


@pytest.fixture(scope="module")
def xsd_dir() -> Path:
    proc = subprocess.run(["bash", str(ROOT / "scripts" / "fetch-oozie-xsd.sh")], capture_output=True, text=True,
                          timeout=600)
    if proc.returncode != 0:
        pytest.fail(f"scripts/fetch-oozie-xsd.sh failed:\n{proc.stdout}{proc.stderr}")
    return XSD_DIR


def spark_documents(workflow: ET.Element, folder: Path, prefix: str) -> list[Path]:
    """Each <spark> element written out as its own document (spark-action-1.0.xsd validates it alone)."""
    out = []
    for name, spark in spark_actions(workflow).items():
        path = folder / f"{prefix}spark-{name}.xml"
        path.write_bytes(ET.tostring(spark))
        out.append(path)
    return out


# Broken copies, each one wrong name in an otherwise valid file: the validation must reject them.
MUTANTS = {
    "wf-spark-element.xml": ("workflow.xml", [("<spark-opts>", "<spark-opt>"), ("</spark-opts>", "</spark-opt>")]),
    "wf-transition.xml": ("workflow.xml", [('<ok to="', '<okay to="')]),
    "wf-email-element.xml": ("workflow.xml", [("<subject>", "<subjet>"), ("</subject>", "</subjet>")]),
    "coord-control.xml": ("coordinator.xml", [("<concurrency>", "<concurency>"),
                                              ("</concurrency>", "</concurency>")]),
}


@pytest.fixture(scope="module")
def validation(xsd_dir: Path, wf: ET.Element, tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[str]]:
    folder = tmp_path_factory.mktemp("oozie")
    pairs: list[tuple[tuple[str, ...], Path]] = [
        (WF_SCHEMAS, OOZIE / "workflow.xml"),
        (COORD_SCHEMAS, OOZIE / "coordinator.xml"),
    ]
    pairs += [(SPARK_SCHEMAS, p) for p in spark_documents(wf, folder, "")]
    for mutant, (source, edits) in MUTANTS.items():
        text = (OOZIE / source).read_text()
        for old, new in edits:
            assert old in text, f"{source} has no {old!r} to break"
            text = text.replace(old, new, 1)
        path = folder / mutant
        path.write_text(text)
        pairs.append((WF_SCHEMAS if source == "workflow.xml" else COORD_SCHEMAS, path))
    # the first action's <spark> alone, with the same typo: the per-action check must catch it too
    broken = ET.fromstring((folder / "wf-spark-element.xml").read_text())
    pairs.append((SPARK_SCHEMAS, spark_documents(broken, folder, "broken-")[0]))
    return validate(pairs)


def test_files_are_valid_against_the_oozie_schemas(validation: dict[str, list[str]], wf: ET.Element) -> None:
    real = {p: e for p, e in validation.items() if "broken-" not in p and Path(p).name not in MUTANTS}
    assert sum(1 for p in real if Path(p).name.startswith("spark-")) == len(spark_actions(wf)) > 0
    assert {p: e for p, e in real.items() if e} == {}


def test_validation_rejects_a_wrong_element_name(validation: dict[str, list[str]]) -> None:
    by_name = {Path(p).name: e for p, e in validation.items()}
    assert any("spark-opt" in e for e in by_name["wf-spark-element.xml"]), by_name["wf-spark-element.xml"]
    assert any("okay" in e for e in by_name["wf-transition.xml"]), by_name["wf-transition.xml"]
    assert any("subjet" in e for e in by_name["wf-email-element.xml"]), by_name["wf-email-element.xml"]
    assert any("concurency" in e for e in by_name["coord-control.xml"]), by_name["coord-control.xml"]
    alone = [e for n, e in by_name.items() if n.startswith("broken-spark-")]
    assert len(alone) == 1 and any("spark-opt" in e for e in alone[0]), alone


# ------------------------------------------------------------------ consistency with the project
def walk(wf: ET.Element, deep: str) -> list[str]:
    """Spark actions met from <start> along the ok transitions, with deepEnabled set to ``deep``."""
    by_name = nodes(wf)
    here = wf.find(q(WF, "start")).get("to")
    seen: list[str] = []
    for _ in range(100):
        node = by_name[here]
        if node.tag == q(WF, "end"):
            return seen
        if node.tag == q(WF, "action"):
            if node.find(q(SPARK, "spark")) is not None:
                seen.append(here)
            here = node.find(q(WF, "ok")).get("to")
        elif node.tag == q(WF, "decision"):
            switch = node.find(q(WF, "switch"))
            here = switch.find(q(WF, "default")).get("to")
            for case in switch.iterfind(q(WF, "case")):
                m = re.fullmatch(r'\$\{(\w+) eq "(\w+)"\}', (case.text or "").strip())
                assert m, f"decision {node.get('name')}: case {case.text!r} is not '${{param eq \"value\"}}'"
                if m.group(1) == "deepEnabled" and m.group(2) == deep:
                    here = case.get("to")
                    break
        else:
            raise AssertionError(f"{here}: a {node.tag} node on the success path")
    raise AssertionError("no <end> after 100 nodes: a cycle in the ok transitions")


def test_actions_follow_the_monthly_cycle(wf: ET.Element) -> None:
    assert walk(wf, "false") == CYCLE
    assert walk(wf, "true") == DEEP_CYCLE
    assert set(spark_actions(wf)) == set(DEEP_CYCLE), "a spark action off the cycle"


def test_every_action_runs_its_job_in_jobs(wf: ET.Element) -> None:
    opts = set()
    for name, spark in spark_actions(wf).items():
        assert (ROOT / "jobs" / f"{name}.py").is_file(), f"action {name}: no jobs/{name}.py"
        assert spark.findtext(q(SPARK, "jar")) == f"{name}.py"
        assert spark.findtext(q(SPARK, "name")) == f"ntl-{name}"  # as ntl_spark/submit.py names the app
        # in the action itself, as Cloudera's spark3 action (the same elements otherwise) requires
        assert spark.findtext(q(SPARK, "resource-manager")) == "${resourceManager}"
        files = [f.text for f in spark.iterfind(q(SPARK, "file"))]
        assert f"${{appPath}}/jobs/{name}.py#{name}.py" in files
        opts.add(" ".join(spark.findtext(q(SPARK, "spark-opts")).split()))
    assert len(opts) == 1, "spark-opts differ between actions"


def test_spark_opts_refer_to_localized_files(wf: ET.Element) -> None:
    for name, spark in spark_actions(wf).items():
        opts = " ".join(spark.findtext(q(SPARK, "spark-opts")).split())
        links = {f.text.rsplit("#", 1)[1] for f in spark.iterfind(q(SPARK, "file"))}
        archives = {a.text.rsplit("#", 1)[1] for a in spark.iterfind(q(SPARK, "archive"))}
        assert "--jars ${jarsDir}/*.jar" in opts, name
        py_files = re.search(r"--py-files (\S+)", opts).group(1)
        assert py_files in links, f"{name}: --py-files {py_files} is not a localized <file>"
        for log4j in re.findall(r"-Dlog4j2\.configurationFile=(\S+)", opts):
            assert log4j in links, f"{name}: log4j2 file {log4j} is not a localized <file>"
        python = re.search(r"spark\.pyspark\.python=\./([^/\s]+)/", opts).group(1)
        assert python in archives, f"{name}: spark.pyspark.python points into {python}/, not an <archive>"
        for f in spark.iterfind(q(SPARK, "file")):
            rel = f.text.split("#")[0].removeprefix("${appPath}/")
            if rel == "ntl_spark.zip":  # built by ntl_spark.submit.package_zip, not in the repository
                continue
            rel = rel.replace("${env}", "prod")
            assert (ROOT / rel).is_file() or (ROOT / rel.replace(".yaml", ".example.yaml")).is_file(), f.text


def test_every_set_key_is_a_config_key(wf: ET.Element, params: dict[str, str], tmp_path: Path) -> None:
    env = params["env"]
    conf = tmp_path / "conf"
    conf.mkdir()
    shutil.copy(ROOT / "conf" / "base.yaml", conf / "base.yaml")
    layer = ROOT / "conf" / f"{env}.yaml"
    shutil.copy(layer if layer.exists() else ROOT / "conf" / f"{env}.example.yaml", conf / f"{env}.yaml")
    for name, spark in spark_actions(wf).items():
        args = [substitute(a.text, params) for a in spark.iterfind(q(SPARK, "arg"))]
        parsed = parse_args(name, "", args)
        assert parsed.env == env and parsed.overrides, f"{name}: {args}"
        cfg = load_config(parsed.env, parsed.overrides, conf_dir=conf)
        assert cfg.score.scored_on == params["scoredOn"]
        assert cfg.ingest.period_start == params["periodStart"]
        # the same load rejects a key that does not exist, so the loop above checked something
        with pytest.raises(ConfigError, match="score.scored_onn"):
            load_config(parsed.env, [*parsed.overrides, "score.scored_onn=2026-01-01"], conf_dir=conf)


def test_every_parameter_is_defined(wf: ET.Element, coord: ET.Element, props: dict[str, str]) -> None:
    declared = wf_parameters(wf)
    text = (OOZIE / "workflow.xml").read_text()
    assert el_names(text) - set(declared) == set(), "used in workflow.xml, not in its <parameters>"
    from_coord = set(coord_configuration(coord))
    required = {k for k, v in declared.items() if v is None}
    assert required - set(props) - from_coord == set(), "required parameters nobody provides"
    assert el_names((OOZIE / "coordinator.xml").read_text()) - set(props) == set()
    assert el_names("${wf:errorMessage(wf:lastErrorNode())} ${x eq \"a\"} ${coord:months(1)}") == {"x"}


def test_failures_end_in_a_kill_that_names_the_action(wf: ET.Element) -> None:
    by_name = nodes(wf)

    def ends(name: str, depth: int = 0) -> set[str]:
        node = by_name[name]
        assert depth < 10
        if node.tag == q(WF, "kill"):
            return {name}
        if node.tag == q(WF, "decision"):
            targets = [c.get("to") for c in node.iter() if c.get("to")]
        else:
            targets = [node.find(q(WF, "ok")).get("to"), node.find(q(WF, "error")).get("to")]
        return set().union(*(ends(t, depth + 1) for t in targets))

    kills = set()
    for name in spark_actions(wf):
        kills |= ends(by_name[name].find(q(WF, "error")).get("to"))
    assert kills, "no kill node after an error"
    for kill in kills:
        message = by_name[kill].findtext(q(WF, "message"))
        assert "${wf:lastErrorNode()}" in message and "${wf:errorMessage(wf:lastErrorNode())}" in message


@pytest.mark.parametrize("nominal", ["2026-03-02T06:00Z", "2028-03-15T06:00Z", "2027-01-01T06:00Z",
                                     "2026-05-31T06:00Z", "2026-11-02T06:00Z"])
def test_coordinator_passes_the_month_before_the_nominal_time(coord: ET.Element, nominal: str) -> None:
    values = {k: eval_coord_el(v, nominal) for k, v in coord_configuration(coord).items()}
    assert values == expected_month_keys(nominal)


def test_coordinator_schedule(coord: ET.Element, props: dict[str, str]) -> None:
    assert coord.get("frequency") == "${coord:months(1)}"
    assert coord.findtext(f"{q(COORD, 'controls')}/{q(COORD, 'concurrency')}") == "1"
    assert coord.findtext(f"{q(COORD, 'controls')}/{q(COORD, 'execution')}") == "FIFO"
    assert substitute(coord.get("timezone"), props) == "America/Montevideo"
    app = substitute(coord.findtext(f"{q(COORD, 'action')}/{q(COORD, 'workflow')}/{q(COORD, 'app-path')}"), props)
    assert props["oozie.coord.application.path"] == f"{app}/coordinator.xml"
    assert props["oozie.use.system.libpath"] == "true" and props["oozie.action.sharelib.for.spark"]
    # dates are formatted in UTC: the start's UTC date must be its date in Montevideo
    for key in ("coordStart", "coordEnd"):
        t = dt.datetime.strptime(props[key], OOZIE_TS).replace(tzinfo=dt.timezone.utc)
        assert t.astimezone(ZoneInfo(props["coordTimezone"])).date() == t.date(), key
