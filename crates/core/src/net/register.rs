//! XEP-0077: In-Band Registration — create an account from the client,
//! change its password, delete it.
//!
//! Registration runs on its own TLS stream before authentication:
//! [`Registration::start`] fetches the server's form (legacy fields or a
//! XEP-0004 data form, possibly with a CAPTCHA), the UI shows it, and
//! [`Registration::submit`] sends the answers on the same stream (CAPTCHA
//! challenges are bound to it).

use std::collections::HashMap;

use futures::{SinkExt, StreamExt};
use serde::Serialize;
use tokio_xmpp::xmlstream::{ReadError, XmppStream, XmppStreamElement};
use tokio_xmpp::Stanza;
use xmpp_parsers::data_forms::{DataForm, DataFormType, Field, FieldType};
use xmpp_parsers::ibr::{FieldsQuery, LegacyQuery};
use xmpp_parsers::iq::Iq;
use xmpp_parsers::jid::Jid;
use xmpp_parsers::minidom::Element;
use xmpp_parsers::stanza_error::{DefinedCondition, StanzaError};

use crate::error::{kebab, ConnectError};
use crate::net::connect::{features_error, io_error, secure, Io, Target};

const NS_REGISTER: &str = "jabber:iq:register";
const NS_DATA: &str = "jabber:x:data";

/// Why registration (or a registration-related request) failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RegistrationError {
    /// Could not reach the server securely.
    #[error(transparent)]
    Connect(#[from] ConnectError),
    /// The server does not allow creating accounts from a client.
    #[error("this server does not allow creating accounts from the app{}", text_suffix(.text))]
    NotSupported {
        /// Server text, if any.
        text: String,
    },
    /// The user name is taken.
    #[error("that user name is already taken on this server")]
    Conflict,
    /// Something required is missing or not acceptable (e.g. a weak password).
    #[error("the server did not accept the details{}", text_suffix(.text))]
    NotAcceptable {
        /// Server text, if any.
        text: String,
    },
    /// Too many registrations from here; try later.
    #[error("the server is refusing new accounts for now; try again later{}", text_suffix(.text))]
    RateLimited {
        /// Server text, if any.
        text: String,
    },
    /// Any other refusal.
    #[error("the server refused: {condition}{}", text_suffix(.text))]
    Refused {
        /// Stanza error condition.
        condition: String,
        /// Server text.
        text: String,
    },
}

fn text_suffix(t: &str) -> String {
    if t.is_empty() {
        String::new()
    } else {
        format!(" ({t})")
    }
}

impl RegistrationError {
    pub(crate) fn from_stanza_error(e: &StanzaError) -> Self {
        let text = e.texts.values().next().cloned().unwrap_or_default();
        match e.defined_condition {
            DefinedCondition::Conflict => RegistrationError::Conflict,
            DefinedCondition::NotAcceptable | DefinedCondition::BadRequest => {
                RegistrationError::NotAcceptable { text }
            }
            DefinedCondition::ResourceConstraint | DefinedCondition::PolicyViolation => {
                RegistrationError::RateLimited { text }
            }
            DefinedCondition::NotAllowed
            | DefinedCondition::ServiceUnavailable
            | DefinedCondition::FeatureNotImplemented
            | DefinedCondition::Forbidden => RegistrationError::NotSupported { text },
            ref other => RegistrationError::Refused {
                condition: kebab(&format!("{other:?}")),
                text,
            },
        }
    }
}

/// One field the user fills in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct RegistrationField {
    /// Field name (`username`, `password`, `email`, or a data-form var).
    pub var: String,
    /// Label to show, if the server gave one.
    pub label: Option<String>,
    /// XEP-0004 field type (`text-single`, `text-private`, `hidden`, `fixed`,
    /// `boolean`, `list-single`, ...). Legacy fields are `text-single`, and
    /// `text-private` for the password.
    pub kind: String,
    /// Whether the server requires it.
    pub required: bool,
    /// Pre-filled value (hidden fields keep theirs).
    pub value: Option<String>,
    /// For list fields: (label, value) choices.
    pub options: Vec<(String, String)>,
}

/// What the server asks for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct RegistrationForm {
    /// Instructions to show.
    pub instructions: Option<String>,
    /// Fields, in the server's order.
    pub fields: Vec<RegistrationField>,
    /// Whether this is a XEP-0004 data form (else legacy fields).
    pub data_form: bool,
}

impl RegistrationForm {
    /// Builds the form from the `<query/>` payload of the server's answer.
    pub fn from_query(query: &Element) -> Option<RegistrationForm> {
        if !query.is("query", NS_REGISTER) {
            return None;
        }
        if let Some(x) = query.get_child("x", NS_DATA) {
            let form = DataForm::try_from(x.clone()).ok()?;
            let fields = form
                .fields
                .iter()
                .filter_map(|f| {
                    Some(RegistrationField {
                        var: f.var.clone()?,
                        label: f.label.clone(),
                        kind: kebab(&format!("{:?}", f.type_)),
                        required: f.required,
                        value: f.values.first().cloned(),
                        options: f
                            .options
                            .iter()
                            .map(|o| {
                                (
                                    o.label.clone().unwrap_or_else(|| o.value.clone()),
                                    o.value.clone(),
                                )
                            })
                            .collect(),
                    })
                })
                .collect();
            return Some(RegistrationForm {
                instructions: form.instructions.clone().or_else(|| {
                    query
                        .get_child("instructions", NS_REGISTER)
                        .map(|i| i.text())
                }),
                fields,
                data_form: true,
            });
        }
        let mut fields = Vec::new();
        let mut instructions = None;
        for child in query.children() {
            let name = child.name();
            match name {
                "instructions" => instructions = Some(child.text().trim().to_string()),
                "registered" | "remove" | "x" => {}
                _ => fields.push(RegistrationField {
                    var: name.to_string(),
                    label: None,
                    kind: if name == "password" {
                        "text-private"
                    } else {
                        "text-single"
                    }
                    .into(),
                    required: true,
                    value: Some(child.text()).filter(|t| !t.is_empty()),
                    options: Vec::new(),
                }),
            }
        }
        Some(RegistrationForm {
            instructions,
            fields,
            data_form: false,
        })
    }

    /// Builds the `<query/>` to submit with these values (by field var).
    pub fn answer(&self, values: &HashMap<String, String>) -> Element {
        if self.data_form {
            let fields = self
                .fields
                .iter()
                .filter(|f| f.kind != "fixed")
                .map(|f| {
                    let mut field = Field::new(&f.var, FieldType::default());
                    field.type_ = field_type(&f.kind);
                    if let Some(v) = values.get(&f.var).cloned().or_else(|| f.value.clone()) {
                        field.values = vec![v];
                    }
                    field
                })
                .collect();
            let form = DataForm {
                type_: DataFormType::Submit,
                title: None,
                instructions: None,
                fields,
            };
            Element::builder("query", NS_REGISTER)
                .append(Element::from(form))
                .build()
        } else {
            let mut q = Element::builder("query", NS_REGISTER);
            for f in &self.fields {
                let value = values
                    .get(&f.var)
                    .cloned()
                    .or_else(|| f.value.clone())
                    .unwrap_or_default();
                q = q.append(Element::builder(f.var.as_str(), NS_REGISTER).append(value));
            }
            q.build()
        }
    }
}

fn field_type(kind: &str) -> FieldType {
    match kind {
        "hidden" => FieldType::Hidden,
        "text-private" => FieldType::TextPrivate,
        "boolean" => FieldType::Boolean,
        "list-single" => FieldType::ListSingle,
        "text-multi" => FieldType::TextMulti,
        "jid-single" => FieldType::JidSingle,
        _ => FieldType::TextSingle,
    }
}

/// An open registration session with a server.
pub struct Registration {
    stream: XmppStream<Io>,
    form: RegistrationForm,
    domain: String,
}

impl std::fmt::Debug for Registration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registration")
            .field("domain", &self.domain)
            .field("form", &self.form)
            .finish()
    }
}

impl Registration {
    /// Connects to `target` over TLS and asks for the registration form.
    pub(crate) async fn start(target: &Target) -> Result<Registration, RegistrationError> {
        let secured = secure(target).await?;
        let (_features, mut stream): (_, XmppStream<Io>) = secured
            .pending
            .recv_features()
            .await
            .map_err(features_error)?;
        let domain: Jid = Jid::new(&target.domain).map_err(|e| ConnectError::Protocol {
            detail: e.to_string(),
        })?;
        let iq = Iq::from_get("reg-1", FieldsQuery).with_to(domain);
        let answer = exchange(&mut stream, iq).await?;
        let query = match answer {
            Iq::Result {
                payload: Some(p), ..
            } => p,
            Iq::Result { payload: None, .. } => {
                return Err(RegistrationError::NotSupported {
                    text: String::new(),
                })
            }
            Iq::Error { error, .. } => return Err(RegistrationError::from_stanza_error(&error)),
            _ => {
                return Err(ConnectError::Protocol {
                    detail: "unexpected answer to the registration request".into(),
                }
                .into())
            }
        };
        let form = RegistrationForm::from_query(&query).ok_or_else(|| {
            RegistrationError::from(ConnectError::Protocol {
                detail: "the server's registration form could not be read".into(),
            })
        })?;
        Ok(Registration {
            stream,
            form,
            domain: target.domain.clone(),
        })
    }

    /// The form to fill.
    pub fn form(&self) -> &RegistrationForm {
        &self.form
    }

    /// Submits the answers; on success the account exists on the server.
    pub async fn submit(
        mut self,
        values: &HashMap<String, String>,
    ) -> Result<(), RegistrationError> {
        let payload = self.form.answer(values);
        let to = Jid::new(&self.domain).map_err(|e| ConnectError::Protocol {
            detail: e.to_string(),
        })?;
        let iq = Iq::Set {
            from: None,
            to: Some(to),
            id: "reg-2".into(),
            payload,
        };
        let answer = exchange(&mut self.stream, iq).await;
        let _ = <XmppStream<Io> as SinkExt<&XmppStreamElement>>::close(&mut self.stream).await;
        match answer? {
            Iq::Result { .. } => Ok(()),
            Iq::Error { error, .. } => Err(RegistrationError::from_stanza_error(&error)),
            _ => Err(ConnectError::Protocol {
                detail: "unexpected answer to the registration".into(),
            }
            .into()),
        }
    }
}

/// Sends one IQ on a raw stream and waits for the answer with the same id.
async fn exchange(stream: &mut XmppStream<Io>, iq: Iq) -> Result<Iq, ConnectError> {
    let id = iq.id().to_string();
    stream
        .send(&XmppStreamElement::Stanza(Stanza::Iq(iq)))
        .await
        .map_err(io_error)?;
    let deadline = tokio::time::Instant::now() + crate::account::IQ_TIMEOUT;
    loop {
        let next = tokio::time::timeout_at(deadline, stream.next())
            .await
            .map_err(|_| ConnectError::Timeout)?;
        match next.map(|v| v.and_then(|v| v.into_read_error())) {
            Some(Ok(XmppStreamElement::Stanza(Stanza::Iq(answer)))) if answer.id() == id => {
                return Ok(answer)
            }
            Some(Ok(XmppStreamElement::StreamError(e))) => {
                return Err(ConnectError::from_stream_error(&e.0))
            }
            Some(Ok(_)) | Some(Err(ReadError::SoftTimeout)) => {}
            Some(Err(ReadError::HardError(e))) => return Err(io_error(e)),
            Some(Err(ReadError::ParseError(e))) => {
                return Err(ConnectError::Protocol {
                    detail: e.to_string(),
                })
            }
            None | Some(Err(ReadError::StreamFooterReceived)) => {
                return Err(ConnectError::ConnectionLost {
                    detail: "the server closed the connection".into(),
                })
            }
        }
    }
}

/// `<query xmlns='jabber:iq:register'><username/><password/></query>` for a
/// password change (XEP-0077 §3.3).
pub(crate) fn change_password_query(username: &str, password: &str) -> LegacyQuery {
    LegacyQuery {
        username: Some(username.to_string()),
        password: Some(password.to_string()),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legacy_form_from_xep_example() {
        let q: Element = "<query xmlns='jabber:iq:register'><instructions>Choose a username and password for use with this service. Please also provide your email address.</instructions><username/><password/><email/></query>".parse().unwrap();
        let form = RegistrationForm::from_query(&q).unwrap();
        assert!(!form.data_form);
        let vars: Vec<_> = form.fields.iter().map(|f| f.var.as_str()).collect();
        assert_eq!(vars, ["username", "password", "email"]);
        assert_eq!(form.fields[1].kind, "text-private");
        let mut v = HashMap::new();
        v.insert("username".to_string(), "bill".to_string());
        v.insert("password".to_string(), "Calliope".to_string());
        v.insert("email".to_string(), "bard@shakespeare.lit".to_string());
        let answer = form.answer(&v);
        assert_eq!(
            answer.get_child("username", NS_REGISTER).unwrap().text(),
            "bill"
        );
        assert_eq!(
            answer.get_child("password", NS_REGISTER).unwrap().text(),
            "Calliope"
        );
    }

    #[test]
    fn data_form_keeps_hidden_values() {
        let q: Element = "<query xmlns='jabber:iq:register'><instructions>Use the enclosed form to register.</instructions><x xmlns='jabber:x:data' type='form'><title>Contest Registration</title><field type='hidden' var='FORM_TYPE'><value>jabber:iq:register</value></field><field type='text-single' label='Given Name' var='first'><required/></field><field type='text-private' label='Password' var='password'/></x></query>".parse().unwrap();
        let form = RegistrationForm::from_query(&q).unwrap();
        assert!(form.data_form);
        assert_eq!(form.fields[0].var, "FORM_TYPE");
        assert_eq!(form.fields[0].kind, "hidden");
        assert!(form.fields[1].required);
        let mut v = HashMap::new();
        v.insert("first".to_string(), "Juliet".to_string());
        let answer = form.answer(&v);
        let x = answer.get_child("x", NS_DATA).unwrap();
        assert_eq!(x.attr("type"), Some("submit"));
        let texts: Vec<String> = x
            .children()
            .map(|f| f.children().map(|c| c.text()).collect())
            .collect();
        assert_eq!(texts[0], "jabber:iq:register");
        assert_eq!(texts[1], "Juliet");
    }

    #[test]
    fn non_register_payload_is_rejected() {
        let q: Element = "<query xmlns='jabber:iq:roster'/>".parse().unwrap();
        assert!(RegistrationForm::from_query(&q).is_none());
    }
}
