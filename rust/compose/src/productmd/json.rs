//! The three files, written as productmd's own `dump()` writes them
//! (`json.dump(indent=4, sort_keys=True, separators=(",", ": "))`,
//! ASCII-only with `\uXXXX` escapes, no trailing newline), from typed
//! documents: every struct below lists its fields in sorted order, as
//! `sort_keys` wants them, and every map is a `BTreeMap`.

use super::{
    os_tree, srpm_key, ComposeInfo, LayerRef, ModuleEntry, RpmCategory, RpmEntry, VariantInfo,
    FORMAT_VERSION, RELEASE_TYPE,
};
use serde::Serialize;
use std::collections::BTreeMap;
use std::io;

/// One productmd file: its header and its payload.
#[derive(Serialize)]
struct Document<P> {
    header: Header,
    payload: P,
}

#[derive(Serialize)]
struct Header {
    #[serde(rename = "type")]
    kind: &'static str,
    version: &'static str,
}

impl<P: Serialize> Document<P> {
    fn new(kind: &'static str, payload: P) -> Self {
        Document {
            header: Header {
                kind,
                version: FORMAT_VERSION,
            },
            payload,
        }
    }
}

/// `payload.compose`, as every productmd file carries it.
#[derive(Serialize)]
struct Compose<'a> {
    date: &'a str,
    id: &'a str,
    respin: u32,
    #[serde(rename = "type")]
    kind: &'static str,
}

impl<'a> Compose<'a> {
    fn of(info: &'a ComposeInfo) -> Self {
        Compose {
            date: &info.date,
            id: &info.compose_id,
            respin: info.respin,
            kind: info.compose_type.as_str(),
        }
    }
}

#[derive(Serialize)]
struct ComposeInfoPayload<'a> {
    compose: Compose<'a>,
    release: Release<'a>,
    /// UID → variant.
    variants: BTreeMap<&'a str, Variant<'a>>,
}

/// `payload.release`: `is_layered` is written only when true, `internal`
/// always.
#[derive(Serialize)]
struct Release<'a> {
    internal: bool,
    name: &'a str,
    short: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    version: &'a str,
}

#[derive(Serialize)]
struct Variant<'a> {
    arches: Vec<&'a str>,
    id: &'a str,
    name: &'a str,
    paths: VariantPaths<'a>,
    #[serde(rename = "type")]
    kind: &'static str,
    uid: &'a str,
}

/// arch → path, relative to the `compose/` directory.
#[derive(Serialize)]
struct VariantPaths<'a> {
    os_tree: BTreeMap<&'a str, String>,
    packages: BTreeMap<&'a str, String>,
    repository: BTreeMap<&'a str, String>,
}

impl<'a> Variant<'a> {
    fn of(v: &'a VariantInfo) -> Self {
        let mut arches: Vec<&str> = v.arches.iter().map(String::as_str).collect();
        arches.sort_unstable();
        arches.dedup();
        let per_arch = |f: &dyn Fn(&str) -> String| arches.iter().map(|a| (*a, f(a))).collect();
        Variant {
            paths: VariantPaths {
                os_tree: per_arch(&|a| os_tree(&v.uid, a)),
                packages: per_arch(&|a| format!("{}/Packages", os_tree(&v.uid, a))),
                repository: per_arch(&|a| os_tree(&v.uid, a)),
            },
            arches,
            id: &v.uid,
            name: &v.name,
            kind: "variant",
            uid: &v.uid,
        }
    }
}

/// arch → source NEVRA → NEVRA → the RPM.
type RpmsOfVariant<'a> = BTreeMap<&'a str, BTreeMap<&'a str, BTreeMap<&'a str, Rpm<'a>>>>;

#[derive(Serialize)]
struct RpmsPayload<'a> {
    compose: Compose<'a>,
    /// A stack's layers, bottom first: their RPMs are in their own
    /// composes, not repeated here. productmd loads `rpms` and `compose`
    /// and leaves other keys alone.
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    layers: &'a [LayerRef],
    /// variant → its RPMs.
    rpms: BTreeMap<&'a str, RpmsOfVariant<'a>>,
}

#[derive(Serialize)]
struct Rpm<'a> {
    category: RpmCategory,
    path: &'a str,
    /// Strata does not see signatures in repodata: null, as Pungi writes
    /// it for unsigned packages.
    sigkey: Option<&'a str>,
}

#[derive(Serialize)]
struct ModulesPayload<'a> {
    compose: Compose<'a>,
    /// variant → arch → `name:stream:version:context` → the module.
    modules: BTreeMap<&'a str, BTreeMap<&'a str, BTreeMap<String, Module<'a>>>>,
}

#[derive(Serialize)]
struct Module<'a> {
    metadata: ModuleMetadata<'a>,
    modulemd_path: ModulemdPath<'a>,
    /// Sorted, without repeats.
    rpms: Vec<&'a str>,
}

#[derive(Serialize)]
struct ModuleMetadata<'a> {
    context: &'a str,
    koji_tag: String,
    name: &'a str,
    stream: &'a str,
    uid: String,
    /// productmd keeps the version as a string.
    version: String,
}

#[derive(Serialize)]
struct ModulemdPath<'a> {
    binary: &'a str,
}

/// Python's `json.dump(indent=4, separators=(",", ": "))` with the default
/// `ensure_ascii=True`: serde_json's pretty printer, with every character
/// outside printable ASCII escaped as `\uXXXX` (lower-case hex, surrogate
/// pairs beyond the BMP).
struct PythonFormatter(serde_json::ser::PrettyFormatter<'static>);

impl serde_json::ser::Formatter for PythonFormatter {
    fn write_string_fragment<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        for c in fragment.chars() {
            if (' '..='~').contains(&c) {
                w.write_all(&[c as u8])?;
            } else {
                let mut units = [0u16; 2];
                for u in c.encode_utf16(&mut units) {
                    write!(w, "\\u{u:04x}")?;
                }
            }
        }
        Ok(())
    }

    fn begin_array<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.begin_array(w)
    }
    fn end_array<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_array(w)
    }
    fn begin_array_value<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> io::Result<()> {
        self.0.begin_array_value(w, first)
    }
    fn end_array_value<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_array_value(w)
    }
    fn begin_object<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.begin_object(w)
    }
    fn end_object<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_object(w)
    }
    fn begin_object_key<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> io::Result<()> {
        self.0.begin_object_key(w, first)
    }
    fn begin_object_value<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.begin_object_value(w)
    }
    fn end_object_value<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_object_value(w)
    }
}

fn dump(doc: &impl Serialize) -> String {
    let mut out = Vec::new();
    let fmt = PythonFormatter(serde_json::ser::PrettyFormatter::with_indent(b"    "));
    let mut ser = serde_json::Serializer::with_formatter(&mut out, fmt);
    // Strings, numbers, booleans and maps of them: nothing fails to
    // serialize, and memory takes every write.
    doc.serialize(&mut ser)
        .expect("serializing to memory cannot fail");
    String::from_utf8(out).expect("the formatter writes ASCII")
}

/// `compose/metadata/composeinfo.json` (`productmd.composeinfo`): every
/// variant, keyed by its UID.
pub(crate) fn composeinfo_json(info: &ComposeInfo) -> String {
    dump(&Document::new(
        "productmd.composeinfo",
        ComposeInfoPayload {
            compose: Compose::of(info),
            release: Release {
                internal: false,
                name: &info.release_name,
                short: &info.release_short,
                kind: RELEASE_TYPE,
                version: &info.release_version,
            },
            variants: info
                .variants
                .iter()
                .map(|v| (v.uid.as_str(), Variant::of(v)))
                .collect(),
        },
    ))
}

/// `compose/metadata/rpms.json` (`productmd.rpms`): variant → arch →
/// source NEVRA → NEVRA → `{category, path, sigkey}`. A variant without
/// RPMs is left out, as productmd's `Rpms.add` creates a variant's key
/// with its first RPM. Repeated identical entries are written once;
/// conflicting ones are [`super::validate`]'s business (the last one wins
/// here).
#[cfg(test)]
pub(crate) fn rpms_json(info: &ComposeInfo, rpms: &[RpmEntry]) -> String {
    rpms_json_with_layers(info, rpms, &[])
}

/// `rpms.json`, naming the stack's layers (the composes whose RPMs a
/// stack compose uses without listing them).
pub(crate) fn rpms_json_with_layers(
    info: &ComposeInfo,
    rpms: &[RpmEntry],
    layers: &[LayerRef],
) -> String {
    let mut variants: RpmsPayload = RpmsPayload {
        compose: Compose::of(info),
        layers,
        rpms: BTreeMap::new(),
    };
    for r in rpms {
        variants
            .rpms
            .entry(&r.variant)
            .or_default()
            .entry(&r.arch)
            .or_default()
            .entry(srpm_key(r))
            .or_default()
            .insert(
                &r.nevra,
                Rpm {
                    category: r.category,
                    path: &r.path,
                    sigkey: None,
                },
            );
    }
    dump(&Document::new("productmd.rpms", variants))
}

/// Images of one compose: variant → arch → productmd image entries.
pub(crate) type Images = BTreeMap<String, BTreeMap<String, Vec<serde_json::Value>>>;

/// `compose/metadata/images.json` (`productmd.images`) listing `images`
/// (none: productmd loads a compose without images as such).
pub(crate) fn images_json(info: &ComposeInfo, images: &Images) -> String {
    #[derive(Serialize)]
    struct ImagesPayload<'a> {
        compose: Compose<'a>,
        images: &'a Images,
    }
    dump(&Document::new(
        "productmd.images",
        ImagesPayload {
            compose: Compose::of(info),
            images,
        },
    ))
}

/// `compose/metadata/modules.json` (`productmd.modules`): variant → arch →
/// `name:stream:version:context` → `{metadata: {uid, name, stream, version,
/// context, koji_tag}, modulemd_path: {binary: path}, rpms: [...]}`; the
/// RPM list sorted and without repeats. A variant without modules is left
/// out, as productmd's `Modules.add` creates a variant's key with its first
/// module.
pub(crate) fn modules_json(info: &ComposeInfo, modules: &[ModuleEntry]) -> String {
    let mut payload = ModulesPayload {
        compose: Compose::of(info),
        modules: BTreeMap::new(),
    };
    for m in modules {
        let mut rpms: Vec<&str> = m.rpms.iter().map(String::as_str).collect();
        rpms.sort_unstable();
        rpms.dedup();
        let uid = m.uid();
        payload
            .modules
            .entry(&m.variant)
            .or_default()
            .entry(&m.arch)
            .or_default()
            .insert(
                uid.clone(),
                Module {
                    metadata: ModuleMetadata {
                        context: &m.context,
                        koji_tag: m.koji_tag(),
                        name: &m.name,
                        stream: &m.stream,
                        uid,
                        version: m.version.to_string(),
                    },
                    modulemd_path: ModulemdPath {
                        binary: &m.modulemd_path,
                    },
                    rpms,
                },
            );
    }
    dump(&Document::new("productmd.modules", payload))
}

#[cfg(test)]
mod test {
    use super::super::fixtures::*;
    use super::super::*;

    #[test]
    fn composeinfo_bytes() {
        let want = r#"{
    "header": {
        "type": "productmd.composeinfo",
        "version": "1.2"
    },
    "payload": {
        "compose": {
            "date": "20261125",
            "id": "apache-2.4-20261125.n.0",
            "respin": 0,
            "type": "nightly"
        },
        "release": {
            "internal": false,
            "name": "apache",
            "short": "apache",
            "type": "ga",
            "version": "2.4"
        },
        "variants": {
            "Apache": {
                "arches": [
                    "aarch64",
                    "x86_64"
                ],
                "id": "Apache",
                "name": "Apache HTTP Server",
                "paths": {
                    "os_tree": {
                        "aarch64": "Apache/aarch64/os",
                        "x86_64": "Apache/x86_64/os"
                    },
                    "packages": {
                        "aarch64": "Apache/aarch64/os/Packages",
                        "x86_64": "Apache/x86_64/os/Packages"
                    },
                    "repository": {
                        "aarch64": "Apache/aarch64/os",
                        "x86_64": "Apache/x86_64/os"
                    }
                },
                "type": "variant",
                "uid": "Apache"
            }
        }
    }
}"#;
        assert_eq!(composeinfo_json(&info()), want);
    }

    #[test]
    fn ascii_only_like_python() {
        let mut i = info();
        i.variants[0].name = "Ápache \u{1F600} \"q\"\n\u{7f}".into();
        let text = composeinfo_json(&i);
        assert!(
            text.contains(r#""name": "\u00c1pache \ud83d\ude00 \"q\"\n\u007f""#),
            "{text}"
        );
        assert!(text.is_ascii());
    }

    #[test]
    fn deterministic() {
        let rpms = vec![
            rpm("x86_64", "httpd-0:2.4.58-1.fc40.x86_64"),
            rpm("aarch64", "httpd-0:2.4.58-1.fc40.aarch64"),
            rpm("x86_64", "httpd-tools-0:2.4.58-1.fc40.x86_64"),
        ];
        let mut reversed = rpms.clone();
        reversed.reverse();
        assert_eq!(rpms_json(&info(), &rpms), rpms_json(&info(), &reversed));
        let modules = vec![module("x86_64"), module("aarch64")];
        let mut rev = modules.clone();
        rev.reverse();
        assert_eq!(modules_json(&info(), &modules), modules_json(&info(), &rev));
        validate(&info(), &rpms, &modules).unwrap();
    }

    #[test]
    fn composeinfo_has_every_variant() {
        let v: serde_json::Value =
            serde_json::from_str(&composeinfo_json(&two_variants())).unwrap();
        let variants = v["payload"]["variants"].as_object().unwrap();
        assert_eq!(
            variants.keys().collect::<Vec<_>>(),
            ["Apache", "ApacheStack"]
        );
        let stack = &variants["ApacheStack"];
        assert_eq!(stack["uid"], "ApacheStack");
        assert_eq!(stack["id"], "ApacheStack");
        assert_eq!(stack["name"], "Apache and its stack");
        assert_eq!(stack["arches"], serde_json::json!(["x86_64"]));
        assert_eq!(
            stack["paths"]["packages"],
            serde_json::json!({"x86_64": "ApacheStack/x86_64/os/Packages"})
        );
        assert_eq!(variants["Apache"]["arches"].as_array().unwrap().len(), 2);
    }

    #[test]
    fn the_same_rpm_in_two_variants() {
        let info = two_variants();
        let nevra = "httpd-0:2.4.58-1.fc40.x86_64";
        let rpms = vec![rpm("x86_64", nevra), stack_rpm("x86_64", nevra)];
        let modules = vec![module("x86_64"), stack_module("x86_64")];
        validate(&info, &rpms, &modules).unwrap();

        let v: serde_json::Value = serde_json::from_str(&rpms_json(&info, &rpms)).unwrap();
        let path = |variant: &str| {
            v["payload"]["rpms"][variant]["x86_64"]["httpd-0:2.4.58-1.fc40.src"][nevra]["path"]
                .clone()
        };
        assert_eq!(
            path("Apache"),
            "Apache/x86_64/os/Packages/h/httpd-0:2.4.58-1.fc40.x86_64.rpm"
        );
        assert_eq!(
            path("ApacheStack"),
            "ApacheStack/x86_64/os/Packages/h/httpd-0:2.4.58-1.fc40.x86_64.rpm"
        );
        let v: serde_json::Value = serde_json::from_str(&modules_json(&info, &modules)).unwrap();
        let uid = module("x86_64").uid();
        assert_eq!(
            v["payload"]["modules"]["ApacheStack"]["x86_64"][&uid]["modulemd_path"]["binary"],
            "ApacheStack/x86_64/os/repodata/def-modules.yaml.gz"
        );
        assert_eq!(
            v["payload"]["modules"]["Apache"]["x86_64"][&uid]["modulemd_path"]["binary"],
            "Apache/x86_64/os/repodata/abc-modules.yaml.gz"
        );

        // Within one variant the same RPM with two paths still conflicts.
        let mut other = stack_rpm("x86_64", nevra);
        other.path = "ApacheStack/x86_64/os/Packages/h/other.rpm".into();
        assert!(matches!(
            validate(&info, &[rpms[1].clone(), other], &[]),
            Err(ProductmdError::Conflict { .. })
        ));
        let mut other = stack_module("x86_64");
        other.modulemd_path = "ApacheStack/x86_64/os/repodata/other-modules.yaml.gz".into();
        assert!(matches!(
            validate(&info, &[], &[modules[1].clone(), other]),
            Err(ProductmdError::Conflict { .. })
        ));
    }

    #[test]
    fn a_variant_without_entries_is_left_out() {
        let info = two_variants();
        let rpms = vec![rpm("x86_64", "httpd-0:2.4.58-1.fc40.x86_64")];
        let modules = vec![stack_module("x86_64")];
        validate(&info, &rpms, &modules).unwrap();
        let v: serde_json::Value = serde_json::from_str(&rpms_json(&info, &rpms)).unwrap();
        let variants = v["payload"]["rpms"].as_object().unwrap();
        assert_eq!(variants.keys().collect::<Vec<_>>(), ["Apache"]);
        let v: serde_json::Value = serde_json::from_str(&modules_json(&info, &modules)).unwrap();
        let variants = v["payload"]["modules"].as_object().unwrap();
        assert_eq!(variants.keys().collect::<Vec<_>>(), ["ApacheStack"]);
        // No entries at all: an empty map, as productmd writes it.
        assert!(rpms_json(&info, &[]).contains("\"rpms\": {}"));
        assert!(modules_json(&info, &[]).contains("\"modules\": {}"));
    }

    #[test]
    fn module_uid_and_tag() {
        let m = module("x86_64");
        assert_eq!(m.uid(), "apache:2.4:20261125083000:c0ffee43");
        assert_eq!(m.koji_tag(), "module-apache-2.4-20261125083000-c0ffee43");
        let text = modules_json(&info(), &[m]);
        assert!(text.contains("\"version\": \"20261125083000\""), "{text}");
    }
}
