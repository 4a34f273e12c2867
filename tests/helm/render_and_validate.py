#!/usr/bin/env python3
"""Renders and lints the vmgw chart with Helm's own engine, validates every manifest, and
lays out the files the gateway container would see; tests/tests/helm_chart/ asserts on
the JSON report this writes.

Helm: helm-python-sdk, which binds Helm's Go SDK (no helm binary exists for this machine);
its render and lint are `helm template` and `helm lint`. Values files are parsed by Helm's
own YAML reader, as `-f` would.

Validation: Kubernetes kinds against the strict (unknown fields refused) OpenAPI schemas of
`kubernetes-validate`; the ServiceMonitor, a CRD those schemas lack, against the
prometheus-operator models of `cloudcoil-models-prometheus-operator` (generated from its
CRDs), made strict the same way. Any other kind is an error.

Usage:
  render_and_validate.py --chart DIR --kube-version 1.30.0 --report OUT.json --root DIR
      [--existing SECRETS.yaml] [--case NAME=VALUES.yaml | --case NAME=] ...
      [--reject NAME=VALUES.yaml] ...
"""

import argparse
import base64
import copy
import json
import os
import sys
import tomllib

import yaml

# Before the models are imported: pydantic copies a base model's config into each model as
# it is defined, so this makes every prometheus-operator model refuse unknown fields (CRD
# models ignore them by default) and accept only the API's own camelCase names.
import cloudcoil.pydantic

cloudcoil.pydantic.BaseModel.model_config["extra"] = "forbid"
cloudcoil.pydantic.BaseModel.model_config["populate_by_name"] = False

import helm_python as helm  # noqa: E402
import kubernetes_validate  # noqa: E402
from cloudcoil.models.prometheus_operator import v1 as monitoring_v1  # noqa: E402

RELEASE = "vmgw"
NAMESPACE = "storage"


def load_values(path):
    if not path:
        return None
    with open(path, encoding="utf-8") as f:
        return helm.values_from_yaml(f.read())


def parse_manifests(rendered):
    """Rendered templates to objects, skipping NOTES.txt and templates that rendered
    nothing (disabled features)."""
    objects = []
    for template, text in sorted(rendered.items()):
        if template.endswith("NOTES.txt"):
            continue
        for doc in yaml.safe_load_all(text):
            if doc:
                objects.append({"template": template, "object": doc})
    return objects


def validate(obj, kube_version):
    """Which schema accepted the object, or raises with the reason."""
    kind, api = obj.get("kind"), obj.get("apiVersion")
    if (api, kind) == ("monitoring.coreos.com/v1", "ServiceMonitor"):
        monitoring_v1.ServiceMonitor.model_validate(obj)
        return "prometheus-operator ServiceMonitor (cloudcoil models, strict)"
    version = kubernetes_validate.validate(obj, kube_version, strict=True)
    return f"kubernetes {version} (strict)"


def error_text(e):
    """One line per problem: jsonschema's own str() carries the whole schema."""
    if isinstance(e, kubernetes_validate.ValidationError):
        return f"{type(e).__name__}: {'.'.join(map(str, e.path))}: {e.message}"
    return f"{type(e).__name__}: {e}"


def validate_all(objects, kube_version):
    results, errors = [], []
    for item in objects:
        obj = item["object"]
        name = f'{obj.get("kind")}/{obj.get("metadata", {}).get("name")}'
        try:
            results.append({"object": name, "schema": validate(obj, kube_version)})
        except Exception as e:  # every failure is reported, none hides the others
            errors.append(f"{item['template']}: {name}: {error_text(e)}")
    return results, errors


def canaries(objects, kube_version):
    """The validators must be able to fail: copies of the workload and the ServiceMonitor
    with one misspelt field each. Maps each to the error it drew (None: accepted)."""
    outcome = {}
    for item in objects:
        obj = copy.deepcopy(item["object"])
        if obj["kind"] in ("DaemonSet", "StatefulSet"):
            obj["spec"]["template"]["spec"]["containers"][0]["imagePullPolicyy"] = "Always"
        elif obj["kind"] == "ServiceMonitor":
            obj["spec"]["endpoints"][0]["scrapeIntervall"] = "30s"
        else:
            continue
        try:
            validate(obj, kube_version)
            outcome[obj["kind"]] = None
        except Exception as e:
            outcome[obj["kind"]] = error_text(e)
    return outcome


def secret_data(secrets, name, key):
    secret = secrets.get(name)
    if secret is None:
        raise KeyError(f"no Secret {name!r} (rendered or --existing)")
    if key in secret.get("stringData", {}):
        return secret["stringData"][key].encode()
    if key not in secret.get("data", {}):
        raise KeyError(f"Secret {name!r} has no key {key!r}")
    return base64.b64decode(secret["data"][key])


def write_file(path, data, mode):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)
    os.chmod(path, mode)


def materialize(objects, existing, root):
    """Lays out, under `root`, the files the gateway container sees (as the kubelet would
    from its volumes), and resolves its environment. Returns the container's args, env and
    mounts."""
    by_kind = {}
    for item in objects:
        obj = item["object"]
        by_kind.setdefault(obj["kind"], {})[obj["metadata"]["name"]] = obj
    secrets = dict(by_kind.get("Secret", {}))
    secrets.update({s["metadata"]["name"]: s for s in existing if s["kind"] == "Secret"})
    config_maps = by_kind.get("ConfigMap", {})
    workloads = list(by_kind.get("DaemonSet", {}).values()) + list(
        by_kind.get("StatefulSet", {}).values()
    )
    if len(workloads) != 1:
        raise ValueError(f"expected one workload, found {len(workloads)}")
    workload = workloads[0]
    pod = workload["spec"]["template"]["spec"]
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    claims = {c["metadata"]["name"] for c in workload["spec"].get("volumeClaimTemplates", [])}
    (container,) = [c for c in pod["containers"] if c["name"] == "vmgw"]

    def project_secret(name, items, default_mode, target):
        for item in items:
            data = secret_data(secrets, name, item["key"])
            write_file(os.path.join(target, item["path"]), data, item.get("mode", default_mode))

    mounts = []
    for mount in container.get("volumeMounts", []):
        target = root + mount["mountPath"]
        name = mount["name"]
        volume = volumes.get(name)
        if volume is None:
            if name not in claims:
                raise KeyError(f"volumeMount {name!r} has no volume or claim template")
            kind = "persistentVolumeClaim (template)"
            os.makedirs(target, exist_ok=True)
        elif "configMap" in volume:
            kind = "configMap"
            data = config_maps[volume["configMap"]["name"]]["data"]
            if "subPath" in mount:
                write_file(target, data[mount["subPath"]].encode(), 0o644)
            else:
                for key, value in data.items():
                    write_file(os.path.join(target, key), value.encode(), 0o644)
        elif "secret" in volume:
            kind = "secret"
            source = volume["secret"]
            project_secret(
                source["secretName"], source["items"], source.get("defaultMode", 0o644), target
            )
        elif "projected" in volume:
            kind = "projected"
            mode = volume["projected"].get("defaultMode", 0o644)
            for source in volume["projected"]["sources"]:
                project_secret(source["secret"]["name"], source["secret"]["items"], mode, target)
        elif any(k in volume for k in ("hostPath", "emptyDir", "persistentVolumeClaim")):
            kind = next(k for k in ("hostPath", "emptyDir", "persistentVolumeClaim") if k in volume)
            os.makedirs(target, exist_ok=True)
        else:
            raise ValueError(f"volume {name!r} of an unexpected kind: {volume}")
        mounts.append({"name": name, "path": mount["mountPath"], "kind": kind,
                       "readOnly": mount.get("readOnly", False)})

    # Values and Secret references are resolved here; downward-API fields are the pod's own
    # (its node's name differs from pod to pod of a DaemonSet), so they are reported as
    # references for whoever starts the gateway to resolve, as the kubelet would.
    env, field_refs = {}, {}
    for var in container.get("env", []):
        # Kubernetes lets a later entry of the same name win, silently: the chart's own
        # variables must not be overridden that way.
        if var["name"] in env or var["name"] in field_refs:
            raise ValueError(f"env {var['name']}: set twice")
        if "value" in var:
            env[var["name"]] = var["value"]
        elif "secretKeyRef" in var.get("valueFrom", {}):
            ref = var["valueFrom"]["secretKeyRef"]
            env[var["name"]] = secret_data(secrets, ref["name"], ref["key"]).decode()
        elif "fieldRef" in var.get("valueFrom", {}):
            field_refs[var["name"]] = var["valueFrom"]["fieldRef"]["fieldPath"]
        else:
            raise ValueError(f"env {var['name']}: unsupported source {var}")
    return {"args": container.get("args", []), "env": env, "field_refs": field_refs,
            "mounts": mounts}


def run_case(chart, chart_dir, path, values, kube_version, existing, root):
    report = {"values_file": path}
    lint = helm.lint(path=chart_dir, values=values, strict=True, namespace=NAMESPACE,
                     kube_version="v" + kube_version)
    report["lint"] = lint
    rendered = chart.render(values=values, name=RELEASE, namespace=NAMESPACE,
                            is_install=True)
    objects = parse_manifests(rendered)
    report["notes"] = next((t for n, t in rendered.items() if n.endswith("NOTES.txt")), "")
    report["manifests"] = [item["object"] for item in objects]
    report["validated"], report["validation_errors"] = validate_all(objects, kube_version)
    report["canaries"] = canaries(objects, kube_version)
    config_map = next(o["object"] for o in objects
                      if o["object"]["kind"] == "ConfigMap" and "vmgw.toml" in o["object"]["data"])
    text = config_map["data"]["vmgw.toml"]
    report["vmgw_toml"] = text
    report["vmgw_toml_parsed"] = tomllib.loads(text)
    report["pod"] = materialize(objects, existing, root)
    report["pod"]["root"] = root
    return report


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--chart", required=True)
    parser.add_argument("--kube-version", required=True)
    parser.add_argument("--report", required=True)
    parser.add_argument("--root", required=True)
    parser.add_argument("--existing")
    parser.add_argument("--case", action="append", default=[])
    parser.add_argument("--reject", action="append", default=[])
    args = parser.parse_args()

    chart = helm.Chart.load(args.chart)
    existing = []
    if args.existing:
        with open(args.existing, encoding="utf-8") as f:
            existing = [d for d in yaml.safe_load_all(f) if d]
    existing_validated, existing_errors = validate_all(
        [{"template": args.existing, "object": o} for o in existing], args.kube_version)

    report = {
        "helm_sdk_version": helm.helm_sdk_version(),
        "helm_python_sdk_version": helm.__version__,
        "kubernetes_validate_version": kubernetes_validate.__version__,
        "chart": chart.metadata,
        "default_values": chart.values,
        "existing": {"validated": existing_validated, "validation_errors": existing_errors},
        "cases": {},
        "rejected": {},
    }
    for case in args.case:
        name, _, path = case.partition("=")
        root = os.path.join(args.root, name)
        report["cases"][name] = run_case(chart, args.chart, path, load_values(path),
                                         args.kube_version, existing, root)
    for case in args.reject:
        name, _, path = case.partition("=")
        outcome = {"values_file": path}
        try:
            chart.render(values=load_values(path), name=RELEASE, namespace=NAMESPACE,
                         is_install=True)
            outcome["render_error"] = None
        except helm.HelmError as e:
            outcome["render_error"] = f"{type(e).__name__}: {e}"
        lint = helm.lint(path=args.chart, values=load_values(path), strict=True,
                         namespace=NAMESPACE, kube_version="v" + args.kube_version)
        outcome["lint"] = lint
        report["rejected"][name] = outcome

    with open(args.report, "w", encoding="utf-8") as f:
        json.dump(report, f, indent=1, default=str)


if __name__ == "__main__":
    sys.exit(main())
