"""Runs a small workflow on nipype (MultiProc) and prints what happened as JSON.

Reads a spec on stdin:
  {"name", "base_dir", "crashdump_dir", "plugin_args": {...}, "config": {...},
   "callback_raises_on": node name or null,
   "report": [node names whose output `out` is reported],
   "nodes": [{"id", "needs": [...], "mem_gb", "n_procs", "iterables": {k: [v...]},
              "synchronize", "map_over": [field...], "nested": bool,
              "join": {"source", "fields": [...], "unique": bool},
              "value": JSON returned as `out`, "echo": input returned as `out`
              ("wrap": as {"v": input}), "fail": bool, "config": {execution option: value}}]}
A node's function takes one input per `needs` entry (`in_<parent>`, fed from the
parent's `out`), its iterable fields and returns `value` (or its inputs) as `out`.
Prints {"starts": [...], "events": [[name, status]...], "error": str|null,
"dirs": [relative node dirs that hold a result], "crashfiles": [...], "warnings": [...],
"outputs": {reported node: its `out`}}.
"""
import json
import logging
import os
import sys

spec = json.load(sys.stdin)

from nipype import config, logging as nlogging  # noqa: E402

config.set("execution", "poll_sleep_duration", "0.05")
config.set("logging", "workflow_level", "WARNING")
config.set("logging", "interface_level", "WARNING")
config.set("execution", "crashdump_dir", spec["crashdump_dir"])
config.set("execution", "create_report", "false")
config.set("execution", "remove_unnecessary_outputs", "false")
for k, v in spec.get("config", {}).items():
    config.set("execution", k, str(v))

warnings = []


class Collect(logging.Handler):
    def emit(self, record):
        if record.levelno >= logging.WARNING:
            warnings.append(record.getMessage())


nlogging.update_logging(config)
nlogging.getLogger("nipype.workflow").addHandler(Collect())

import nipype.pipeline.engine as pe  # noqa: E402
from nipype.interfaces.utility import Function  # noqa: E402

wf = pe.Workflow(name=spec["name"], base_dir=spec["base_dir"])
made = {}
for n in spec["nodes"]:
    fields = ["in_" + p for p in n.get("needs", [])] + sorted(n.get("iterables", {}).keys()) + n.get("inputs", [])
    args = ", ".join(f + "=None" for f in fields)
    body = "    raise RuntimeError('node %s fails')\n" % n["id"] if n.get("fail") else ""
    value = json.dumps(n["value"]) if "value" in n else None
    if value is not None:
        ret = "json.loads(%r)" % value
    elif n.get("echo"):
        ret = ("dict(v=%s)" if n.get("wrap") else "%s") % n["echo"]
    else:
        ret = "dict(%s)" % ", ".join("%s=%s" % (f, f) for f in fields)
    src = "def f(%s):\n    import json\n%s    return %s\n" % (args, body, ret)
    iface = Function(input_names=fields, output_names=["out"], function=src)
    if n.get("map_over"):
        node = pe.MapNode(iface, iterfield=n["map_over"], name=n["id"], nested=n.get("nested", False))
    elif n.get("join"):
        node = pe.JoinNode(
            iface, joinsource=n["join"]["source"], joinfield=n["join"]["fields"], unique=n["join"].get("unique", False), name=n["id"]
        )
    else:
        node = pe.Node(iface, name=n["id"])
    if "mem_gb" in n:
        node._mem_gb = n["mem_gb"]
    if "n_procs" in n:
        node._n_procs = n["n_procs"]
    if n.get("config"):
        node.config = {"execution": {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in n["config"].items()}}
    if n.get("iterables"):
        items = list(n["iterables"].items())
        node.iterables = items
        if n.get("synchronize"):
            node.synchronize = True
    made[n["id"]] = node
wf.add_nodes([made[n["id"]] for n in spec["nodes"]])
for n in spec["nodes"]:
    for p in n.get("needs", []):
        wf.connect(made[p], "out", made[n["id"]], "in_" + p)

starts = []
events = []


def callback(node, status):
    events.append([node.name, status])
    if status == "start":
        starts.append(node.name)
    if spec.get("callback_raises_on") == node.name:
        raise ValueError("callback refused %s" % node.name)


plugin_args = dict(spec.get("plugin_args", {}))
plugin_args["status_callback"] = callback
error = None
try:
    wf.run(plugin="MultiProc", plugin_args=plugin_args)
except Exception as e:  # noqa: BLE001
    error = "%s: %s" % (type(e).__name__, e)

root = os.path.join(spec["base_dir"], spec["name"])
dirs = []
for d, _, files in os.walk(root):
    if any(f.startswith("result_") for f in files):
        dirs.append(os.path.relpath(d, root))
crash = sorted(os.listdir(spec["crashdump_dir"])) if os.path.isdir(spec["crashdump_dir"]) else []
from nipype.utils.filemanip import loadpkl  # noqa: E402

outputs = {}
for name in spec.get("report", []):
    result = os.path.join(root, name, "result_%s.pklz" % name)
    outputs[name] = loadpkl(result).outputs.out if os.path.exists(result) else None
print(json.dumps({"starts": starts, "events": events, "error": error, "dirs": sorted(dirs), "crashfiles": crash, "warnings": warnings, "outputs": outputs}))
