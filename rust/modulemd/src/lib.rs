//! modulemd v2 streams and modulemd-defaults v1 documents, written deterministically.
