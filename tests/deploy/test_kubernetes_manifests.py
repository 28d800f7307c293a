"""deploy/kubernetes validates offline against Kubernetes and prometheus-operator schemas."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from mlscope import deploy_gen
from mlscope.config_gen import load
from tests._servers import REPO

K8S_DIR = REPO / "deploy" / "kubernetes"
CRD_DIR = REPO / "tests" / "schemas" / "prometheus-operator"
KUBERNETES_VERSION = "1.30"


def _docs() -> list[tuple[str, dict[str, Any]]]:
    out = []
    for path in sorted(K8S_DIR.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                out.append((path.name, doc))
    return out


def _crd_schemas() -> dict[str, dict[str, Any]]:
    schemas = {}
    for path in CRD_DIR.glob("*.yaml"):
        crd = yaml.safe_load(path.read_text())
        kind = crd["spec"]["names"]["kind"]
        (version,) = [v for v in crd["spec"]["versions"] if v["name"] == "v1"]
        schemas[kind] = version["schema"]["openAPIV3Schema"]
    return schemas


DOCS = _docs()


@pytest.mark.parametrize(
    "doc", [d for _, d in DOCS], ids=[f"{f}:{d['kind']}/{d['metadata']['name']}" for f, d in DOCS]
)
def test_manifest_is_valid_against_its_schema(doc: dict[str, Any]) -> None:
    if doc["apiVersion"].startswith("monitoring.coreos.com/"):
        schema = _crd_schemas()[doc["kind"]]
        jsonschema.Draft7Validator(schema).validate(doc)
    else:
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def test_schema_check_rejects_a_broken_manifest() -> None:
    # The validators above must be able to fail: a PodMonitor with a wrong type and a
    # Deployment with an unknown field are refused.
    pm = yaml.safe_load((K8S_DIR / "podmonitor.yaml").read_text())
    pm["spec"]["podMetricsEndpoints"][0]["interval"] = 15
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft7Validator(_crd_schemas()["PodMonitor"]).validate(pm)
    dep = next(d for _, d in DOCS if d["kind"] == "Deployment")
    broken = json.loads(json.dumps(dep))
    broken["spec"]["template"]["spec"]["containers"][0]["portz"] = []
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)


def test_kustomization_lists_existing_files() -> None:
    kust = yaml.safe_load((K8S_DIR / "kustomization.yaml").read_text())
    for res in kust["resources"]:
        assert (K8S_DIR / res).is_file(), res


def test_generated_manifests_are_up_to_date(tmp_path: Path) -> None:
    deploy_gen.generate(REPO, tmp_path)
    for name in ("prometheusrule.yaml", "grafana-dashboards.yaml", "podmonitor.yaml", "servicemonitor.yaml"):
        assert (tmp_path / name).read_text() == (K8S_DIR / name).read_text(), (
            f"deploy/kubernetes/{name} is stale: run `make generate`"
        )


def test_prometheusrule_carries_every_shipped_rule() -> None:
    shipped: list[str] = []
    for path in sorted((REPO / "prometheus" / "rules").glob("*.yml")):
        for group in yaml.safe_load(path.read_text())["groups"]:
            shipped += [r.get("alert") or r["record"] for r in group["rules"]]
    assert shipped, "prometheus/rules/*.yml holds no rules"
    pr = yaml.safe_load((K8S_DIR / "prometheusrule.yaml").read_text())
    in_cluster = [r.get("alert") or r["record"] for g in pr["spec"]["groups"] for r in g["rules"]]
    assert in_cluster == shipped


def test_dashboard_configmaps_carry_every_dashboard_for_the_sidecar_loader() -> None:
    dashboards = sorted(p.name for p in (REPO / "grafana" / "dashboards").glob("*.json"))
    assert dashboards, "grafana/dashboards holds no dashboard"
    cms = [d for f, d in DOCS if f == "grafana-dashboards.yaml"]
    assert sorted(k for cm in cms for k in cm["data"]) == dashboards
    for cm in cms:
        assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"  # the Grafana sidecar's default
        for body in cm["data"].values():
            assert json.loads(body)["uid"]


def test_sidecar_container_arguments_parse_with_the_real_cli() -> None:
    from mlscope.cli import build_parser

    dep = next(d for _, d in DOCS if d["kind"] == "Deployment")
    (sidecar,) = [c for c in dep["spec"]["template"]["spec"]["containers"] if c["name"] == "mlscope"]
    args = build_parser().parse_args(sidecar["args"])
    assert args.command == "serve" and args.port == 9108


# kube-prometheus-stack's Prometheus selects these kinds by its Helm release label; its
# Grafana sidecar loads ConfigMaps by `grafana_dashboard: "1"` (the charts' defaults).
STACK_SELECTOR = {"release": "kube-prometheus-stack"}
SELECTED_KINDS = {"PodMonitor", "ServiceMonitor", "PrometheusRule"}


def _selected(docs: list[tuple[str, dict[str, Any]]], selector: dict[str, str]) -> set[str]:
    """The kinds whose labels match ``selector`` (matchLabels semantics: a subset)."""
    return {d["kind"] for _, d in docs if selector.items() <= d["metadata"].get("labels", {}).items()}


def test_kube_prometheus_stack_selectors_pick_up_the_shipped_objects() -> None:
    assert _selected(DOCS, STACK_SELECTOR) >= SELECTED_KINDS
    cms = [d for _, d in DOCS if d["kind"] == "ConfigMap"]
    assert cms and all(cm["metadata"]["labels"]["grafana_dashboard"] == "1" for cm in cms)


def _generated_docs(out: Path) -> list[tuple[str, dict[str, Any]]]:
    return [(p.name, d) for p in sorted(out.glob("*.yaml")) for d in yaml.safe_load_all(p.read_text()) if d]


def test_selector_dashboard_labels_and_jobs_are_settings(tmp_path: Path) -> None:
    cfg = load({
        "deploy": {"selector_labels": {"release": "monitoring", "team": "ml"},
                   "dashboard_labels": {"grafana_dashboard": "mlscope"}},
        "jobs": {"app": {"name": "shop-api"}},
    })
    deploy_gen.generate(REPO, tmp_path, cfg)
    docs = _generated_docs(tmp_path)
    assert _selected(docs, {"release": "monitoring", "team": "ml"}) == SELECTED_KINDS
    assert not _selected(docs, STACK_SELECTOR)
    cms = [d for _, d in docs if d["kind"] == "ConfigMap"]
    assert cms and all(cm["metadata"]["labels"]["grafana_dashboard"] == "mlscope" for cm in cms)
    pm = next(d for _, d in docs if d["kind"] == "PodMonitor")
    jobs = [e["relabelings"][0]["replacement"] for e in pm["spec"]["podMetricsEndpoints"]]
    assert jobs == ["shop-api", "mlscope-sidecar"]
    for _, doc in docs:  # still valid against the operator's CRD schemas and Kubernetes'
        test_manifest_is_valid_against_its_schema(doc)
