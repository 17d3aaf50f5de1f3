//! productmd-style compose IDs: `<name>-<stream>-<YYYYMMDD><suffix>.<respin>`,
//! e.g. `apache-2.4-20261125.n.0`; the module name and stream stand where
//! productmd has the release short name and version.
//!
//! The rules for the name and stream (productmd's, and what a directory
//! name and a URL can carry) are strata-model's, shared with the
//! definition check so that what `strata validate` accepts a compose
//! accepts too.

use crate::record::ComposeType;

pub(crate) use strata_model::{
    compose_id_name_problem as name_problem, compose_id_stream_problem as stream_problem,
};

/// The `YYYYMMDD` UTC date of unix time `secs`, if it has one with four
/// digits of year after 1970.
pub(crate) fn compose_date(secs: i64) -> Option<String> {
    if secs < 0 {
        return None;
    }
    let ts = jiff::Timestamp::from_second(secs).ok()?;
    Some(ts.strftime("%Y%m%d").to_string())
}

/// The compose ID without its respin: composes that share it differ only
/// in respin. Keying respins on this (rather than on name and stream)
/// keeps IDs unique even where two name/stream pairs spell the same.
pub(crate) fn id_base(name: &str, stream: &str, date: &str, compose_type: ComposeType) -> String {
    format!("{name}-{stream}-{date}{}", compose_type.suffix())
}

pub(crate) fn compose_id(base: &str, respin: u32) -> String {
    format!("{base}.{respin}")
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn ids_look_like_productmds() {
        let base = id_base("apache", "2.4", "20261125", ComposeType::Nightly);
        assert_eq!(compose_id(&base, 0), "apache-2.4-20261125.n.0");
        let base = id_base("apache", "2.4", "20261125", ComposeType::Production);
        assert_eq!(compose_id(&base, 3), "apache-2.4-20261125.3");
        let base = id_base("base-runtime", "f40", "20261125", ComposeType::Ci);
        assert_eq!(compose_id(&base, 1), "base-runtime-f40-20261125.ci.1");
    }

    #[test]
    fn dates_are_utc() {
        assert_eq!(compose_date(0).unwrap(), "19700101");
        // 23:30 in New York on the 25th is already the 26th in UTC.
        let evening: jiff::Timestamp = "2026-11-25T23:30:00-05:00".parse().unwrap();
        assert_eq!(compose_date(evening.as_second()).unwrap(), "20261126");
        let noon: jiff::Timestamp = "2026-11-25T12:00:00Z".parse().unwrap();
        assert_eq!(compose_date(noon.as_second()).unwrap(), "20261125");
        assert_eq!(compose_date(-1), None);
        assert_eq!(compose_date(i64::MAX), None);
    }
}
