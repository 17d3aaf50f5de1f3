//! Our productmd metadata against the real productmd library (PyPI
//! `productmd`, in the `python3` on PATH): `productmd.compose.Compose`
//! loads the three files with the values we meant, rebuilding them through
//! productmd's own API (`Rpms.add`, `Modules.add`, which validate every
//! entry) and `dumps()` gives back our bytes exactly, and what our
//! validation refuses, productmd refuses too.

use super::{
    composeinfo_json, modules_json, rpms_json, validate, variant_uid, ComposeInfo, ModuleEntry,
    ProductmdError, RpmCategory, RpmEntry, VariantInfo,
};
use serde_json::{json, Value};
use std::path::Path;
use std::process::Command;
use strata_registry::ComposeType;

/// Loads `<top>/compose/metadata/*.json` and prints what productmd read,
/// plus the files rebuilt through productmd's API, as JSON. Any exception
/// is reported with the stage it happened in.
const LOAD: &str = r#"
import json, os, sys, traceback
try:
    import productmd.compose, productmd.rpms, productmd.modules
except ImportError:
    print(json.dumps({"ok": False, "stage": "import", "error": "productmd is not installed: pip install productmd"}))
    sys.exit(0)

top = sys.argv[1]
meta = os.path.join(top, "compose", "metadata")
out = {"ok": True}
stage = "load"
try:
    c = productmd.compose.Compose(top)
    stage = "composeinfo"
    info = c.info
    out["compose"] = {"id": info.compose.id, "date": info.compose.date, "type": info.compose.type,
                      "respin": info.compose.respin, "label": info.compose.label}
    out["release"] = {"name": info.release.name, "short": info.release.short, "version": info.release.version,
                      "type": info.release.type, "is_layered": info.release.is_layered, "internal": info.release.internal}
    out["release_id"] = info.release_id
    out["create_compose_id"] = info.create_compose_id()
    out["variants"] = {}
    for v in info.get_variants():
        out["variants"][v.uid] = {"id": v.id, "name": v.name, "type": v.type, "arches": sorted(v.arches),
                                  "os_tree": v.paths.os_tree, "packages": v.paths.packages,
                                  "repository": v.paths.repository}
    stage = "rpms"
    out["rpms"] = c.rpms.rpms
    stage = "modules"
    out["modules"] = c.modules.modules

    stage = "redump composeinfo"
    redump = {"composeinfo": info.dumps()}
    stage = "rebuild rpms"
    r = productmd.rpms.Rpms()
    for f in ("id", "type", "date", "respin"):
        setattr(r.compose, f, getattr(c.rpms.compose, f))
    for variant, arches in c.rpms.rpms.items():
        for arch, srpms in arches.items():
            for srpm, rpms in srpms.items():
                for nevra, d in rpms.items():
                    r.add(variant, arch, nevra, d["path"], d["sigkey"], d["category"],
                          None if d["category"] == "source" else srpm)
    redump["rpms"] = r.dumps()
    stage = "rebuild modules"
    m = productmd.modules.Modules()
    for f in ("id", "type", "date", "respin"):
        setattr(m.compose, f, getattr(c.modules.compose, f))
    for variant, arches in c.modules.modules.items():
        for arch, uids in arches.items():
            for uid, d in uids.items():
                for category, path in d["modulemd_path"].items():
                    m.add(variant, arch, uid, d["metadata"]["koji_tag"], path, category, d["rpms"])
    redump["modules"] = m.dumps()
    out["redump"] = redump
except Exception as e:
    out = {"ok": False, "stage": stage, "error": "%s: %s" % (type(e).__name__, e)}
print(json.dumps(out))
"#;

fn productmd_load(top: &Path) -> Value {
    let out = Command::new("python3")
        .arg("-c")
        .arg(LOAD)
        .arg(top)
        .output()
        .expect("run python3");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).expect("JSON from the load script");
    assert_ne!(v["stage"], "import", "{}", v["error"]);
    v
}

struct Files {
    composeinfo: String,
    rpms: String,
    modules: String,
}

fn write_compose(
    top: &Path,
    info: &ComposeInfo,
    rpms: &[RpmEntry],
    modules: &[ModuleEntry],
) -> Files {
    let meta = top.join("compose").join("metadata");
    std::fs::create_dir_all(&meta).unwrap();
    let files = Files {
        composeinfo: composeinfo_json(info),
        rpms: rpms_json(info, rpms),
        modules: modules_json(info, modules),
    };
    std::fs::write(meta.join("composeinfo.json"), &files.composeinfo).unwrap();
    std::fs::write(meta.join("rpms.json"), &files.rpms).unwrap();
    std::fs::write(meta.join("modules.json"), &files.modules).unwrap();
    files
}

fn info() -> ComposeInfo {
    ComposeInfo {
        compose_id: "base-runtime-2.4-20261125.n.3".into(),
        date: "20261125".into(),
        compose_type: ComposeType::Nightly,
        respin: 3,
        release_name: "base-runtime".into(),
        release_short: "base-runtime".into(),
        release_version: "2.4".into(),
        variants: vec![VariantInfo {
            uid: variant_uid("base-runtime"),
            name: "Base runtime — the bottom of every stack".into(),
            arches: vec!["x86_64".into(), "aarch64".into()],
        }],
    }
}

fn binary(arch: &str, name: &str, epoch: u32, pkg_arch: &str) -> RpmEntry {
    let nevra = format!("{name}-{epoch}:2.4.58-1.fc40.{pkg_arch}");
    RpmEntry {
        variant: "BaseRuntime".into(),
        arch: arch.into(),
        srpm_nevra: format!("httpd-{epoch}:2.4.58-1.fc40.src"),
        path: format!(
            "BaseRuntime/{arch}/os/Packages/{}/{name}-2.4.58-1.fc40.{pkg_arch}.rpm",
            &name[..1]
        ),
        nevra,
        category: RpmCategory::Binary,
    }
}

fn rpms() -> Vec<RpmEntry> {
    vec![
        binary("x86_64", "httpd", 0, "x86_64"),
        binary("x86_64", "httpd-filesystem", 0, "noarch"),
        binary("aarch64", "httpd", 0, "aarch64"),
        binary("aarch64", "httpd-filesystem", 0, "noarch"),
        RpmEntry {
            category: RpmCategory::Debug,
            ..binary("x86_64", "httpd-debuginfo", 0, "x86_64")
        },
        RpmEntry {
            variant: "BaseRuntime".into(),
            arch: "x86_64".into(),
            srpm_nevra: String::new(),
            nevra: "httpd-0:2.4.58-1.fc40.src".into(),
            path: "BaseRuntime/source/tree/Packages/h/httpd-2.4.58-1.fc40.src.rpm".into(),
            category: RpmCategory::Source,
        },
    ]
}

fn modules() -> Vec<ModuleEntry> {
    ["x86_64", "aarch64"]
        .into_iter()
        .map(|arch| ModuleEntry {
            variant: "BaseRuntime".into(),
            arch: arch.into(),
            name: "base-runtime".into(),
            stream: "2.4".into(),
            version: 20261125083000,
            context: "c0ffee43".into(),
            rpms: vec![
                format!("httpd-0:2.4.58-1.fc40.{arch}"),
                "httpd-filesystem-0:2.4.58-1.fc40.noarch".into(),
            ],
            modulemd_path: format!("BaseRuntime/{arch}/os/repodata/0123abcd-modules.yaml.gz"),
        })
        .collect()
}

#[test]
fn productmd_loads_what_we_write() {
    let dir = tempfile::tempdir().unwrap();
    let (info, rpms, modules) = (info(), rpms(), modules());
    validate(&info, &rpms, &modules).unwrap();
    let files = write_compose(dir.path(), &info, &rpms, &modules);
    let got = productmd_load(dir.path());
    assert_eq!(got["ok"], true, "{got}");

    assert_eq!(
        got["compose"],
        json!({"id": "base-runtime-2.4-20261125.n.3", "date": "20261125", "type": "nightly",
               "respin": 3, "label": null})
    );
    assert_eq!(
        got["release"],
        json!({"name": "base-runtime", "short": "base-runtime", "version": "2.4", "type": "ga",
               "is_layered": false, "internal": false})
    );
    // productmd derives the same compose ID from the release and compose.
    assert_eq!(got["create_compose_id"], "base-runtime-2.4-20261125.n.3");
    assert_eq!(got["release_id"], "base-runtime-2.4");
    assert_eq!(
        got["variants"],
        json!({"BaseRuntime": {
            "id": "BaseRuntime",
            "name": "Base runtime — the bottom of every stack",
            "type": "variant",
            "arches": ["aarch64", "x86_64"],
            "os_tree": {"aarch64": "BaseRuntime/aarch64/os", "x86_64": "BaseRuntime/x86_64/os"},
            "packages": {"aarch64": "BaseRuntime/aarch64/os/Packages",
                         "x86_64": "BaseRuntime/x86_64/os/Packages"},
            "repository": {"aarch64": "BaseRuntime/aarch64/os", "x86_64": "BaseRuntime/x86_64/os"}
        }})
    );

    let x86 = &got["rpms"]["BaseRuntime"]["x86_64"]["httpd-0:2.4.58-1.fc40.src"];
    assert_eq!(
        x86["httpd-0:2.4.58-1.fc40.x86_64"],
        json!({"category": "binary", "sigkey": null,
               "path": "BaseRuntime/x86_64/os/Packages/h/httpd-2.4.58-1.fc40.x86_64.rpm"})
    );
    assert_eq!(
        x86["httpd-debuginfo-0:2.4.58-1.fc40.x86_64"]["category"],
        "debug"
    );
    assert_eq!(x86["httpd-0:2.4.58-1.fc40.src"]["category"], "source");
    assert_eq!(
        got["rpms"]["BaseRuntime"]["aarch64"]["httpd-0:2.4.58-1.fc40.src"]
            .as_object()
            .unwrap()
            .len(),
        2
    );

    let module =
        &got["modules"]["BaseRuntime"]["x86_64"]["base-runtime:2.4:20261125083000:c0ffee43"];
    assert_eq!(
        module["metadata"],
        json!({"uid": "base-runtime:2.4:20261125083000:c0ffee43", "name": "base-runtime",
               "stream": "2.4", "version": "20261125083000", "context": "c0ffee43",
               "koji_tag": "module-base-runtime-2.4-20261125083000-c0ffee43"})
    );
    assert_eq!(
        module["modulemd_path"],
        json!({"binary": "BaseRuntime/x86_64/os/repodata/0123abcd-modules.yaml.gz"})
    );
    assert_eq!(
        module["rpms"],
        json!([
            "httpd-0:2.4.58-1.fc40.x86_64",
            "httpd-filesystem-0:2.4.58-1.fc40.noarch"
        ])
    );

    // productmd's own dump of the same content is our bytes, exactly.
    assert_eq!(got["redump"]["composeinfo"], files.composeinfo.as_str());
    assert_eq!(got["redump"]["rpms"], files.rpms.as_str());
    assert_eq!(got["redump"]["modules"], files.modules.as_str());
}

/// [`info`] with a second variant, the whole stack's `BaseRuntimeStack`,
/// on x86_64 only.
fn two_variants() -> ComposeInfo {
    let mut i = info();
    i.variants.push(VariantInfo {
        uid: "BaseRuntimeStack".into(),
        name: "Base runtime and everything it needs".into(),
        arches: vec!["x86_64".into()],
    });
    i
}

/// An entry of the first variant, moved into the stack's variant.
fn in_stack(r: &RpmEntry) -> RpmEntry {
    RpmEntry {
        variant: "BaseRuntimeStack".into(),
        path: r.path.replacen("BaseRuntime/", "BaseRuntimeStack/", 1),
        ..r.clone()
    }
}

#[test]
fn productmd_loads_two_variants() {
    let dir = tempfile::tempdir().unwrap();
    let info = two_variants();
    let mut rpms = rpms();
    // The same x86_64 RPMs in the stack's variant too, with their own paths.
    let stack: Vec<RpmEntry> = rpms
        .iter()
        .filter(|r| r.arch == "x86_64")
        .map(in_stack)
        .collect();
    rpms.extend(stack);
    let mut modules = modules();
    let mut m = modules[0].clone();
    m.variant = "BaseRuntimeStack".into();
    m.modulemd_path = "BaseRuntimeStack/x86_64/os/repodata/4567cdef-modules.yaml.gz".into();
    modules.push(m);
    validate(&info, &rpms, &modules).unwrap();
    let files = write_compose(dir.path(), &info, &rpms, &modules);
    let got = productmd_load(dir.path());
    assert_eq!(got["ok"], true, "{got}");

    let variants = got["variants"].as_object().unwrap();
    assert_eq!(
        variants.keys().collect::<Vec<_>>(),
        ["BaseRuntime", "BaseRuntimeStack"]
    );
    assert_eq!(
        got["variants"]["BaseRuntimeStack"],
        json!({
            "id": "BaseRuntimeStack",
            "name": "Base runtime and everything it needs",
            "type": "variant",
            "arches": ["x86_64"],
            "os_tree": {"x86_64": "BaseRuntimeStack/x86_64/os"},
            "packages": {"x86_64": "BaseRuntimeStack/x86_64/os/Packages"},
            "repository": {"x86_64": "BaseRuntimeStack/x86_64/os"}
        })
    );
    assert_eq!(
        got["variants"]["BaseRuntime"]["arches"],
        json!(["aarch64", "x86_64"])
    );

    let srpm = "httpd-0:2.4.58-1.fc40.src";
    let nevra = "httpd-0:2.4.58-1.fc40.x86_64";
    assert_eq!(
        got["rpms"]["BaseRuntime"]["x86_64"][srpm][nevra]["path"],
        "BaseRuntime/x86_64/os/Packages/h/httpd-2.4.58-1.fc40.x86_64.rpm"
    );
    assert_eq!(
        got["rpms"]["BaseRuntimeStack"]["x86_64"][srpm][nevra]["path"],
        "BaseRuntimeStack/x86_64/os/Packages/h/httpd-2.4.58-1.fc40.x86_64.rpm"
    );
    assert_eq!(
        got["rpms"]["BaseRuntimeStack"]["x86_64"][srpm]
            .as_object()
            .unwrap()
            .len(),
        4,
        "binary, noarch, debuginfo and source"
    );
    assert_eq!(
        got["rpms"]["BaseRuntimeStack"]
            .as_object()
            .unwrap()
            .keys()
            .collect::<Vec<_>>(),
        ["x86_64"]
    );

    let uid = "base-runtime:2.4:20261125083000:c0ffee43";
    assert_eq!(
        got["modules"]["BaseRuntimeStack"]["x86_64"][uid]["modulemd_path"],
        json!({"binary": "BaseRuntimeStack/x86_64/os/repodata/4567cdef-modules.yaml.gz"})
    );
    assert_eq!(
        got["modules"]["BaseRuntime"]["x86_64"][uid]["modulemd_path"],
        json!({"binary": "BaseRuntime/x86_64/os/repodata/0123abcd-modules.yaml.gz"})
    );
    assert_eq!(
        got["modules"]["BaseRuntimeStack"]["x86_64"][uid]["rpms"],
        got["modules"]["BaseRuntime"]["x86_64"][uid]["rpms"]
    );

    // productmd's own dump of the same content is our bytes, exactly.
    assert_eq!(got["redump"]["composeinfo"], files.composeinfo.as_str());
    assert_eq!(got["redump"]["rpms"], files.rpms.as_str());
    assert_eq!(got["redump"]["modules"], files.modules.as_str());
}

/// A variant without RPMs or modules is in composeinfo.json only; rebuilt
/// through productmd's `add()`, the files are the same.
#[test]
fn productmd_loads_a_variant_without_entries() {
    let dir = tempfile::tempdir().unwrap();
    let info = two_variants();
    let (rpms, modules) = (rpms(), modules());
    validate(&info, &rpms, &modules).unwrap();
    let files = write_compose(dir.path(), &info, &rpms, &modules);
    let got = productmd_load(dir.path());
    assert_eq!(got["ok"], true, "{got}");
    assert_eq!(got["variants"].as_object().unwrap().len(), 2);
    for key in ["rpms", "modules"] {
        assert_eq!(
            got[key].as_object().unwrap().keys().collect::<Vec<_>>(),
            ["BaseRuntime"],
            "{key}"
        );
    }
    assert_eq!(got["redump"]["composeinfo"], files.composeinfo.as_str());
    assert_eq!(got["redump"]["rpms"], files.rpms.as_str());
    assert_eq!(got["redump"]["modules"], files.modules.as_str());
}

#[test]
fn every_compose_type_loads() {
    for ty in ComposeType::ALL {
        let dir = tempfile::tempdir().unwrap();
        let mut i = info();
        i.compose_type = ty;
        i.compose_id = format!("base-runtime-f40-20261125{}.0", ty.suffix());
        i.respin = 0;
        i.release_version = "f40".into();
        validate(&i, &[], &[]).unwrap();
        let files = write_compose(dir.path(), &i, &[], &[]);
        let got = productmd_load(dir.path());
        assert_eq!(got["ok"], true, "{ty}: {got}");
        assert_eq!(got["compose"]["type"], ty.as_str());
        assert_eq!(got["create_compose_id"], i.compose_id.as_str());
        assert_eq!(got["redump"]["rpms"], files.rpms.as_str());
    }
}

/// Writes metadata our validation refuses (with `what` named) and asserts
/// that productmd refuses it too, in `stage`, with `message`.
fn assert_both_refuse(
    info: &ComposeInfo,
    rpms: &[RpmEntry],
    modules: &[ModuleEntry],
    what: &str,
    stage: &str,
    message: &str,
) {
    match validate(info, rpms, modules) {
        Err(ProductmdError::Invalid { what: w, .. }) => assert_eq!(w, what),
        other => panic!("{what}: validate gave {other:?}"),
    }
    let dir = tempfile::tempdir().unwrap();
    write_compose(dir.path(), info, rpms, modules);
    let got = productmd_load(dir.path());
    assert_eq!(got["ok"], false, "productmd accepted a bad {what}");
    assert_eq!(got["stage"], stage, "{what}: {got}");
    let error = got["error"].as_str().unwrap();
    assert!(error.contains(message), "{what}: {error}");
}

#[test]
fn productmd_refuses_what_we_refuse() {
    let (rpms, modules) = (rpms(), modules());

    let mut i = info();
    i.date = "2026-11-25".into();
    assert_both_refuse(&i, &rpms, &modules, "compose.date", "composeinfo", "date");

    let mut i = info();
    i.release_version = "2.4a".into();
    assert_both_refuse(
        &i,
        &rpms,
        &modules,
        "release.version",
        "composeinfo",
        "2.4a",
    );

    let mut i = info();
    i.variants[0].uid = "base_runtime".into();
    let renamed: Vec<RpmEntry> = rpms
        .iter()
        .map(|r| RpmEntry {
            variant: "base_runtime".into(),
            path: r.path.replace("BaseRuntime/", "base_runtime/"),
            ..r.clone()
        })
        .collect();
    assert_both_refuse(
        &i,
        &renamed,
        &[],
        "variants[0].uid",
        "composeinfo",
        "base_runtime",
    );

    let mut i = info();
    i.variants[0].name = String::new();
    assert_both_refuse(
        &i,
        &rpms,
        &modules,
        "variants[0].name",
        "composeinfo",
        "blank",
    );

    // An RPM without its epoch.
    let mut bad = rpms.clone();
    bad[0].nevra = "httpd-2.4.58-1.fc40.x86_64".into();
    assert_both_refuse(
        &info(),
        &bad,
        &modules,
        "rpms[0].nevra",
        "rebuild rpms",
        "Missing epoch",
    );

    // A source RPM filed as binary.
    let mut bad = rpms.clone();
    bad[5].category = RpmCategory::Binary;
    bad[5].srpm_nevra = "httpd-0:2.4.58-1.fc40.src".into();
    assert_both_refuse(
        &info(),
        &bad,
        &modules,
        "rpms[5].category",
        "rebuild rpms",
        "category/arch",
    );

    // An absolute path.
    let mut bad = rpms.clone();
    bad[0].path = format!("/srv/compose/{}", bad[0].path);
    assert_both_refuse(
        &info(),
        &bad,
        &modules,
        "rpms[0].path",
        "rebuild rpms",
        "Relative path",
    );

    // A compose arch productmd does not know.
    let mut i = info();
    i.variants[0].arches.push("x86-64".into());
    let mut bad = rpms.clone();
    bad[0].arch = "x86-64".into();
    assert_both_refuse(
        &i,
        &bad,
        &[],
        "variants[0].arches",
        "rebuild rpms",
        "RPM_ARCHES",
    );

    // A module whose stream holds ':' cannot be told from its version.
    let mut bad = modules.clone();
    bad[0].stream = "2:4".into();
    assert_both_refuse(
        &info(),
        &rpms,
        &bad,
        "modules[0].stream",
        "rebuild modules",
        "uid",
    );
}
