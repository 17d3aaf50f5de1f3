//! productmd metadata (composeinfo.json, rpms.json, modules.json).
