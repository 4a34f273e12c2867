//! Completing S3 error documents.
//!
//! Errors raised inside s3s (signature checks, path and XML parsing) carry a code but no
//! message, and none carries the request id, which only the server layer knows. S3 always
//! sends both, and clients print them, so every error document leaving the gateway gets
//! them here.

/// Messages S3 uses for the codes s3s raises without one.
fn default_message(code: &str) -> &'static str {
    match code {
        "InvalidBucketName" => "The specified bucket is not valid.",
        "KeyTooLongError" => "Your key is too long.",
        "MalformedXML" => {
            "The XML you provided was not well-formed or did not validate against our published schema."
        }
        "SignatureDoesNotMatch" => {
            "The request signature we calculated does not match the signature you provided. Check your key and signing method."
        }
        "InvalidAccessKeyId" => "The AWS Access Key Id you provided does not exist in our records.",
        "AccessDenied" => "Access Denied",
        "RequestTimeTooSkewed" => {
            "The difference between the request time and the current time is too large."
        }
        "InvalidURI" => "Couldn't parse the specified URI.",
        "InvalidArgument" => "Invalid Argument",
        "InvalidRequest" => "Invalid Request",
        "MissingContentLength" => "You must provide the Content-Length HTTP header.",
        "IncompleteBody" => {
            "You did not provide the number of bytes specified by the Content-Length HTTP header."
        }
        "MaxMessageLengthExceeded" => "Your request was too big.",
        "MethodNotAllowed" => "The specified method is not allowed against this resource.",
        "NotImplemented" => {
            "A header or query you provided implies functionality that is not implemented."
        }
        "NoSuchBucket" => "The specified bucket does not exist.",
        "NoSuchKey" => "The specified key does not exist.",
        "InvalidRange" => "The requested range is not satisfiable.",
        "InternalError" => "We encountered an internal error. Please try again.",
        _ => "The request could not be processed.",
    }
}

fn tag<'a>(text: &'a str, name: &str) -> Option<&'a str> {
    let open = format!("<{name}>");
    let close = format!("</{name}>");
    let start = text.find(&open)? + open.len();
    let end = start + text[start..].find(&close)?;
    Some(&text[start..end])
}

/// Adds a missing `<Message>` and `<RequestId>` to an `<Error>` document. Returns `None`
/// when the document is complete or is not an error document.
#[must_use]
pub fn complete(xml: &[u8], request_id: &str) -> Option<Vec<u8>> {
    let text = std::str::from_utf8(xml).ok()?;
    let end = text.rfind("</Error>")?;
    let mut extra = String::new();
    if tag(text, "Message").is_none_or(str::is_empty) && !text.contains("<Message/>") {
        let code = tag(text, "Code").unwrap_or_default();
        extra.push_str("<Message>");
        extra.push_str(default_message(code));
        extra.push_str("</Message>");
    }
    if !text.contains("<RequestId>") {
        extra.push_str("<RequestId>");
        extra.push_str(request_id);
        extra.push_str("</RequestId>");
    }
    if extra.is_empty() {
        return None;
    }
    Some(format!("{}{extra}{}", &text[..end], &text[end..]).into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adds_message_and_request_id_once() {
        let xml = b"<?xml version=\"1.0\"?><Error><Code>InvalidBucketName</Code></Error>";
        let done = String::from_utf8(complete(xml, "ABC").unwrap()).unwrap();
        assert!(
            done.ends_with("<Code>InvalidBucketName</Code><Message>The specified bucket is not valid.</Message><RequestId>ABC</RequestId></Error>"),
            "{done}"
        );
        assert!(complete(done.as_bytes(), "XYZ").is_none());
    }

    #[test]
    fn keeps_existing_messages_and_ignores_other_documents() {
        let xml = b"<Error><Code>NoSuchKey</Code><Message>custom</Message></Error>";
        let done = String::from_utf8(complete(xml, "A").unwrap()).unwrap();
        assert!(
            done.contains("<Message>custom</Message><RequestId>A</RequestId>"),
            "{done}"
        );
        assert!(complete(b"<ListBucketResult/>", "A").is_none());
        assert!(complete(b"\xff\xfe", "A").is_none());
    }
}
