//! Conversion of `kube` errors into core errors, at the provider boundary.

use aegis_dr_core::{Error, ErrorKind};

/// Converts a kube error about `resource` (for the message) while doing `verb`.
pub(crate) fn from_kube(err: kube::Error, verb: &str, resource: &str) -> Error {
    match &err {
        kube::Error::Api(status) => {
            let code = status.code;
            let msg = format!("{verb} {resource}: {} ({code})", status.message);
            let msg = if matches!(code, 401 | 403) {
                format!("{msg}: the credentials need `{verb}` on {resource}")
            } else {
                msg
            };
            Error::from_http_status(code, msg).with_resource(resource.to_string())
        }
        _ => Error::new(ErrorKind::Unreachable, format!("{verb} {resource}: {err}"))
            .with_resource(resource.to_string())
            .temporary(),
    }
}
