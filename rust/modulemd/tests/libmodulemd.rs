//! Our `modules.yaml` against the real libmodulemd (python3-gi, Modulemd
//! 2.0) and `modulemd-validator` (libmodulemd-tools): what we write loads in
//! strict mode with the values we meant, and what our validation refuses,
//! libmodulemd refuses too where it checks the same thing.

use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use strata_modulemd::{
    artifact_nevra, modules_yaml, Defaults, Dependencies, Error, License, ModuleStream, Problem,
    Profile, ServiceLevel,
};

/// Loads a file strictly and prints what libmodulemd read, as JSON.
const LOAD: &str = r#"
import json, sys
import gi
gi.require_version("Modulemd", "2.0")
from gi.repository import Modulemd

idx = Modulemd.ModuleIndex.new()
ok, failures = idx.update_from_file(sys.argv[1], True)
out = {"ok": ok, "failures": [f.get_gerror().message for f in failures], "modules": {}}
for name in idx.get_module_names():
    m = idx.get_module(name)
    d = m.get_defaults()
    mod = {"defaults": None, "streams": []}
    if d is not None:
        mod["defaults"] = {
            "stream": d.get_default_stream(),
            "profiles": {s: list(d.get_default_profiles_for_stream(s)) for s in d.get_streams_with_default_profiles()},
        }
    for s in m.get_all_streams():
        deps = []
        for x in s.get_dependencies():
            deps.append({
                "buildrequires": {n: list(x.get_buildtime_streams(n)) for n in x.get_buildtime_modules()},
                "requires": {n: list(x.get_runtime_streams(n)) for n in x.get_runtime_modules()},
            })
        mod["streams"].append({
            "nsvca": s.get_NSVCA(),
            "name": s.get_module_name(),
            "stream": s.get_stream_name(),
            "version": s.get_version(),
            "context": s.get_context(),
            "arch": s.get_arch(),
            "summary": s.get_summary(),
            "description": s.get_description(),
            "module_licenses": list(s.get_module_licenses()),
            "content_licenses": list(s.get_content_licenses()),
            "artifacts": list(s.get_rpm_artifacts()),
            "api": list(s.get_rpm_api()),
            "profiles": {p: {"description": s.get_profile(p).get_description(), "rpms": list(s.get_profile(p).get_rpms())} for p in s.get_profile_names()},
            "dependencies": deps,
            "eol": {n: s.get_servicelevel(n).get_eol_as_string() for n in s.get_servicelevel_names()},
            "xmd": s.get_xmd(),
        })
    out["modules"][name] = mod
print(json.dumps(out))
"#;

fn libmodulemd_load(path: &Path) -> Value {
    let out = Command::new("/usr/bin/python3")
        .arg("-c")
        .arg(LOAD)
        .arg(path)
        .output()
        .expect("run /usr/bin/python3 (python3-gi and gir1.2-modulemd-2.0 are required)");
    assert!(
        out.status.success(),
        "libmodulemd load failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("CRITICAL") && !stderr.contains("Warning"),
        "libmodulemd complained: {stderr}"
    );
    serde_json::from_slice(&out.stdout).expect("JSON from the load script")
}

/// `modulemd-validator FILE`: whether it accepts the file, and its output.
fn validator(path: &Path) -> (bool, String) {
    let out = Command::new("modulemd-validator")
        .arg(path)
        .output()
        .expect("run modulemd-validator (libmodulemd-tools is required)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

fn apache() -> ModuleStream {
    ModuleStream {
        name: "apache".into(),
        stream: "2.4".into(),
        version: 20261125083000,
        context: "c0ffee43".into(),
        arch: "x86_64".into(),
        summary: "Apache HTTP Server".into(),
        description: "The Apache web server.\n\nWith \"mod_ssl\": yes.".into(),
        license: License {
            module: vec!["MIT".into()],
            content: vec!["ASL 2.0".into(), "GPL+ or Artistic".into()],
        },
        servicelevels: BTreeMap::from([(
            "rawhide".into(),
            ServiceLevel {
                eol: Some("2027-12-01".into()),
            },
        )]),
        xmd: json!({
            "strata": {
                "compose_id": "apache-2.4-20261125.n.0",
                "inputs": [
                    {"compose_id": "base-8-20261124.n.0", "kind": "module"},
                    {"kind": "repo", "sha256": "0123abcd"}
                ],
                "respin": "0",
                "layered": true,
                "tricky": ["2.4", "yes", "null", "", " pad ", "a: b", "ünïcode", "multi\nline"],
                "empty_list": [],
                "empty_map": {},
                "1e3": "a key that looks like a number"
            }
        })
        .as_object()
        .unwrap()
        .clone(),
        dependencies: vec![Dependencies::runtime(BTreeMap::from([
            ("platform".into(), vec!["f40".into()]),
            ("base".into(), vec!["8".into()]),
            ("anything".into(), vec![]),
        ]))],
        profiles: BTreeMap::from([
            (
                "default".into(),
                Profile {
                    description: Some("The server".into()),
                    rpms: vec!["httpd".into(), "mod_ssl".into()],
                },
            ),
            (
                "minimal".into(),
                Profile {
                    description: None,
                    rpms: vec!["httpd".into()],
                },
            ),
        ]),
        api: vec!["httpd".into()],
        artifacts: vec![
            artifact_nevra("httpd", 0, "2.4.58", "1.fc40", "x86_64"),
            artifact_nevra("httpd-tools", 0, "2.4.58", "1.fc40", "x86_64"),
            artifact_nevra("mod_ssl", 1, "2.4.58", "1.fc40", "x86_64"),
        ],
    }
}

fn base(stream: &str) -> ModuleStream {
    ModuleStream {
        name: "base".into(),
        stream: stream.into(),
        version: 20261124000000,
        context: "12345678".into(),
        arch: "noarch".into(),
        summary: "Base".into(),
        description: "Base runtime.".into(),
        license: License {
            module: vec!["MIT".into()],
            content: vec![],
        },
        artifacts: vec![artifact_nevra("base-files", 2, "8.0", "1", "noarch")],
        ..Default::default()
    }
}

fn defaults() -> Vec<Defaults> {
    vec![
        Defaults {
            module: "apache".into(),
            stream: Some("2.4".into()),
            profiles: BTreeMap::from([("2.4".into(), vec!["default".into()])]),
        },
        Defaults {
            module: "base".into(),
            stream: Some("8".into()),
            profiles: BTreeMap::from([("8".into(), vec![]), ("true".into(), vec![])]),
        },
    ]
}

fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn libmodulemd_loads_what_we_write() {
    let dir = tempfile::tempdir().unwrap();
    let streams = [apache(), base("8"), base("true"), base("1e3")];
    let text = modules_yaml(&streams, &defaults()).unwrap();
    let path = write(dir.path(), "modules.yaml", &text);

    let (ok, output) = validator(&path);
    assert!(ok, "modulemd-validator refused:\n{output}\n{text}");

    let got = libmodulemd_load(&path);
    assert_eq!(got["ok"], true, "{got}");
    assert_eq!(got["failures"], json!([]));

    let apache = &got["modules"]["apache"];
    assert_eq!(
        apache["defaults"],
        json!({"stream": "2.4", "profiles": {"2.4": ["default"]}})
    );
    let s = &apache["streams"][0];
    assert_eq!(s["nsvca"], "apache:2.4:20261125083000:c0ffee43:x86_64");
    assert_eq!(s["name"], "apache");
    assert_eq!(s["stream"], "2.4");
    assert_eq!(s["version"], 20261125083000u64);
    assert_eq!(s["context"], "c0ffee43");
    assert_eq!(s["arch"], "x86_64");
    assert_eq!(s["summary"], "Apache HTTP Server");
    assert_eq!(
        s["description"],
        "The Apache web server.\n\nWith \"mod_ssl\": yes."
    );
    assert_eq!(s["module_licenses"], json!(["MIT"]));
    assert_eq!(
        s["content_licenses"],
        json!(["ASL 2.0", "GPL+ or Artistic"])
    );
    assert_eq!(
        s["artifacts"],
        json!([
            "httpd-0:2.4.58-1.fc40.x86_64",
            "httpd-tools-0:2.4.58-1.fc40.x86_64",
            "mod_ssl-1:2.4.58-1.fc40.x86_64"
        ])
    );
    assert_eq!(s["api"], json!(["httpd"]));
    assert_eq!(
        s["profiles"],
        json!({
            "default": {"description": "The server", "rpms": ["httpd", "mod_ssl"]},
            "minimal": {"description": null, "rpms": ["httpd"]}
        })
    );
    assert_eq!(
        s["dependencies"],
        json!([{
            "buildrequires": {},
            "requires": {"anything": [], "base": ["8"], "platform": ["f40"]}
        }])
    );
    assert_eq!(s["eol"], json!({"rawhide": "2027-12-01"}));
    // xmd comes back whole; libmodulemd keeps booleans and reads every
    // other scalar as a string.
    assert_eq!(s["xmd"], Value::Object(streams[0].xmd.clone()));

    let base = &got["modules"]["base"];
    assert_eq!(
        base["defaults"],
        json!({"stream": "8", "profiles": {"8": [], "true": []}})
    );
    let mut nsvcas: Vec<&str> = base["streams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["nsvca"].as_str().unwrap())
        .collect();
    nsvcas.sort();
    assert_eq!(
        nsvcas,
        [
            "base:1e3:20261124000000:12345678:noarch",
            "base:8:20261124000000:12345678:noarch",
            "base:true:20261124000000:12345678:noarch"
        ]
    );
    for s in base["streams"].as_array().unwrap() {
        assert_eq!(s["artifacts"], json!(["base-files-2:8.0-1.noarch"]));
        assert_eq!(s["content_licenses"], json!([]));
    }

    // Our reader reads back what libmodulemd read.
    let docs = strata_modulemd::parse_modules_yaml(&text).unwrap();
    assert_eq!(docs.len(), 6);
}

/// A libmodulemd-written file round-trips through our reader and writer to
/// a file libmodulemd loads with the same values.
#[test]
fn rewriting_a_libmodulemd_file_keeps_its_values() {
    let dir = tempfile::tempdir().unwrap();
    let theirs = Path::new(env!("CARGO_MANIFEST_DIR")).join("test-data/libmodulemd-2.14.yaml");
    let docs =
        strata_modulemd::parse_modules_yaml(&std::fs::read_to_string(&theirs).unwrap()).unwrap();
    let mut streams = Vec::new();
    let mut defaults = Vec::new();
    for d in docs {
        match d {
            strata_modulemd::Document::Stream(s) => streams.push(s),
            strata_modulemd::Document::Defaults(d) => defaults.push(d),
            strata_modulemd::Document::Other { .. } => {}
        }
    }
    let ours = write(
        dir.path(),
        "modules.yaml",
        &modules_yaml(&streams, &defaults).unwrap(),
    );
    let mut before = libmodulemd_load(&theirs);
    let after = libmodulemd_load(&ours);
    // The one known difference: libmodulemd wrote the xmd string "true"
    // unquoted, which YAML (and so our reader) reads as a boolean, written
    // back as `TRUE`. Only `TRUE`/`FALSE` are booleans to libmodulemd.
    let n = &mut before["modules"]["apache"]["streams"][0]["xmd"]["strata"]["n"];
    assert_eq!(*n, "true");
    *n = json!(true);
    assert_eq!(before, after);
}

/// Writes `text` and asserts that libmodulemd, loading strictly, and
/// modulemd-validator both refuse it with `message`.
fn assert_libmodulemd_refuses(dir: &Path, name: &str, text: &str, message: &str) {
    let path = write(dir, name, text);
    let (ok, output) = validator(&path);
    assert!(!ok, "modulemd-validator accepted {name}:\n{text}");
    assert!(output.contains(message), "{name}: {output}");
    let got = libmodulemd_load(&path);
    assert_eq!(got["ok"], false, "{name}: {got}");
    assert!(
        got["failures"][0].as_str().unwrap().contains(message),
        "{name}: {got}"
    );
}

fn refused_field(s: &ModuleStream) -> (String, Problem) {
    match s.validate().unwrap_err() {
        Error::Invalid { field, problem, .. } => (field, problem),
        other => panic!("{other}"),
    }
}

#[test]
fn libmodulemd_refuses_what_we_refuse() {
    let dir = tempfile::tempdir().unwrap();
    let good = modules_yaml(&[apache()], &[]).unwrap();
    let (ok, output) = validator(&write(dir.path(), "good.yaml", &good));
    assert!(ok, "{output}");

    // An artifact without its epoch.
    let mut s = apache();
    s.artifacts[0] = "httpd-2.4.58-1.fc40.x86_64".into();
    assert_eq!(refused_field(&s).0, "data.artifacts.rpms");
    assert_libmodulemd_refuses(
        dir.path(),
        "no-epoch.yaml",
        &good.replace("httpd-0:2.4.58", "httpd-2.4.58"),
        "was not in valid N-E:V-R.A format",
    );

    // No module license.
    let mut s = apache();
    s.license.module.clear();
    assert_eq!(
        refused_field(&s),
        ("data.license.module".into(), Problem::Empty)
    );
    assert_libmodulemd_refuses(
        dir.path(),
        "no-license.yaml",
        &good.replace("    module:\n    - MIT\n", "    module: []\n"),
        "Module license is missing",
    );

    // No summary, no description.
    let mut s = apache();
    s.summary.clear();
    assert_eq!(refused_field(&s), ("data.summary".into(), Problem::Empty));
    assert_libmodulemd_refuses(
        dir.path(),
        "no-summary.yaml",
        &good.replace("  summary: Apache HTTP Server\n", ""),
        "Summary is missing",
    );
    let mut s = apache();
    s.description = "\n".into();
    assert_eq!(
        refused_field(&s),
        ("data.description".into(), Problem::Empty)
    );
    let no_description: String = good
        .lines()
        .filter(|l| !l.starts_with("  description:"))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_libmodulemd_refuses(
        dir.path(),
        "no-description.yaml",
        &no_description,
        "Description is missing",
    );

    // A dependency that both requires and excludes streams.
    let mut s = apache();
    s.dependencies[0]
        .requires
        .insert("platform".into(), vec!["f40".into(), "-f39".into()]);
    assert_eq!(
        refused_field(&s).0,
        "data.dependencies[0].requires.platform"
    );
    assert_libmodulemd_refuses(
        dir.path(),
        "mixed.yaml",
        &good.replace("platform: [f40]", "platform: [f40, -f39]"),
        "mix of positive and negative",
    );

    // No name: libmodulemd cannot index the stream.
    let mut s = apache();
    s.name.clear();
    assert_eq!(refused_field(&s), ("data.name".into(), Problem::Empty));
    let path = write(
        dir.path(),
        "no-name.yaml",
        &good.replace("  name: apache\n", ""),
    );
    assert_eq!(libmodulemd_load(&path)["ok"], false);
}

/// libmodulemd does not refuse an xmd list mixing kinds; it silently drops
/// items (with a GLib-CRITICAL). We refuse it instead.
#[test]
fn libmodulemd_loses_mixed_xmd_lists() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = apache();
    s.xmd = json!({"list": ["a", "b"]}).as_object().unwrap().clone();
    let good = modules_yaml(&[s.clone()], &[]).unwrap();
    s.xmd = json!({"list": ["a", true]}).as_object().unwrap().clone();
    assert!(matches!(
        refused_field(&s),
        (field, Problem::XmdMixedList { .. }) if field == "data.xmd.list"
    ));
    let path = write(
        dir.path(),
        "mixed-xmd.yaml",
        &good.replace("  - b\n", "  - TRUE\n"),
    );
    let out = Command::new("/usr/bin/python3")
        .arg("-c")
        .arg(LOAD)
        .arg(&path)
        .output()
        .unwrap();
    let got: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_ne!(
        got["modules"]["apache"]["streams"][0]["xmd"]["list"],
        json!(["a", true]),
        "{got}"
    );
}
