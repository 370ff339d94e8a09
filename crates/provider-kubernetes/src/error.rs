//! Conversion of `kube` errors into core errors, at the provider boundary.

use aegis_dr_core::{Error, ErrorKind};

/// Converts a kube error about `resource` (for the message) while doing `verb`.
pub(crate) fn from_kube(err: kube::Error, verb: &str, resource: &str) -> Error {
    match &err {
        kube::Error::Api(status) => {
            let code = status.code;
            let msg = format!("{verb} {resource}: {} ({code})", status.message);
            let kind = match code {
                404 => ErrorKind::NotFound,
                409 => ErrorKind::Conflict,
                401 | 403 => ErrorKind::PermissionDenied,
                429 => ErrorKind::Throttled,
                400 | 422 => ErrorKind::InvalidState,
                _ => ErrorKind::Provider,
            };
            let msg = if kind == ErrorKind::PermissionDenied {
                format!("{msg}: the credentials need `{verb}` on {resource}")
            } else {
                msg
            };
            let e = Error::new(kind, msg).with_resource(resource.to_string());
            if code >= 500 || code == 429 || code == 409 {
                e.temporary()
            } else {
                e
            }
        }
        _ => Error::new(ErrorKind::Unreachable, format!("{verb} {resource}: {err}"))
            .with_resource(resource.to_string())
            .temporary(),
    }
}
