//! XEP-0115: Entity Capabilities. A caps element names a software (`node`)
//! and the hash (`ver`) of its disco#info; Tern computes its own and checks
//! that a peer's disco#info answer really hashes to what it announced
//! before anyone relies on it.

use std::collections::HashSet;

use base64::Engine as _;
use xmpp_parsers::caps::{compute_disco, hash_caps, Caps};
use xmpp_parsers::disco::DiscoInfoResult;
use xmpp_parsers::hashes::{Algo, Hash};

/// The caps element of software `node` whose disco#info is `info`
/// (SHA-1, as XEP-0115 §5.1 requires).
pub(crate) fn of(node: &str, info: &DiscoInfoResult) -> Caps {
    let hash = hash_caps(&compute_disco(info), Algo::Sha_1)
        .unwrap_or_else(|_| Hash::new(Algo::Sha_1, Vec::new()));
    Caps::new(node, hash)
}

/// `node#ver`: the disco#info node a peer asks about these caps
/// (XEP-0115 §6.2).
pub(crate) fn node_ver(caps: &Caps) -> String {
    format!(
        "{}#{}",
        caps.node,
        base64::engine::general_purpose::STANDARD.encode(&caps.ver)
    )
}

/// Whether `info` is what `caps` announced (XEP-0115 §5.4). Answers with
/// duplicate identities are refused: they make the hash ambiguous.
pub(crate) fn verify(caps: &Caps, info: &DiscoInfoResult) -> bool {
    if info.identities.is_empty() || caps.ver.is_empty() {
        return false;
    }
    let unique: HashSet<_> = info.identities.iter().collect();
    if unique.len() != info.identities.len() {
        return false;
    }
    match hash_caps(&compute_disco(info), caps.hash.clone()) {
        Ok(h) => h.hash == caps.ver,
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xep::{el, wire};

    /// XEP-0115 §5.2, the simple generation example's disco#info.
    fn exodus() -> DiscoInfoResult {
        el("<query xmlns='http://jabber.org/protocol/disco#info'>\
               <identity category='client' name='Exodus 0.9.1' type='pc'/>\
               <feature var='http://jabber.org/protocol/caps'/>\
               <feature var='http://jabber.org/protocol/disco#info'/>\
               <feature var='http://jabber.org/protocol/disco#items'/>\
               <feature var='http://jabber.org/protocol/muc'/>\
             </query>")
        .try_into()
        .unwrap()
    }

    #[test]
    fn computes_the_xep_hashes() {
        let caps = of("http://code.google.com/p/exodus", &exodus());
        assert_eq!(
            node_ver(&caps),
            "http://code.google.com/p/exodus#QgayPKawpkPSDYmwT/WM94uAlu0="
        );
        // XEP-0115 §6.1, Example 1: presence with caps.
        let announced: Caps = el("<c xmlns='http://jabber.org/protocol/caps'
     hash='sha-1'
     node='http://code.google.com/p/exodus'
     ver='QgayPKawpkPSDYmwT/WM94uAlu0='/>")
        .try_into()
        .unwrap();
        let built = Caps::try_from(wire(caps)).unwrap();
        assert_eq!(
            (built.node, built.hash, built.ver),
            (announced.node, announced.hash, announced.ver)
        );

        // XEP-0115 §5.3, the complex generation example (two identities,
        // an extended form).
        let psi: DiscoInfoResult = el("<query xmlns='http://jabber.org/protocol/disco#info'
         node='http://psi-im.org#q07IKJEyjvHSyhy//CH0CxmKi8w='>
    <identity xml:lang='en' category='client' name='Psi 0.11' type='pc'/>
    <identity xml:lang='el' category='client' name='\u{3a8} 0.11' type='pc'/>
    <feature var='http://jabber.org/protocol/caps'/>
    <feature var='http://jabber.org/protocol/disco#info'/>
    <feature var='http://jabber.org/protocol/disco#items'/>
    <feature var='http://jabber.org/protocol/muc'/>
    <x xmlns='jabber:x:data' type='result'>
      <field var='FORM_TYPE' type='hidden'>
        <value>urn:xmpp:dataforms:softwareinfo</value>
      </field>
      <field var='ip_version' type='text-multi' >
        <value>ipv4</value>
        <value>ipv6</value>
      </field>
      <field var='os'>
        <value>Mac</value>
      </field>
      <field var='os_version'>
        <value>10.5.1</value>
      </field>
      <field var='software'>
        <value>Psi</value>
      </field>
      <field var='software_version'>
        <value>0.11</value>
      </field>
    </x>
  </query>")
        .try_into()
        .unwrap();
        assert_eq!(
            node_ver(&of("http://psi-im.org", &psi)),
            "http://psi-im.org#q07IKJEyjvHSyhy//CH0CxmKi8w="
        );
    }

    #[test]
    fn verifies_the_xep_example_and_refuses_forgeries() {
        let caps = of("http://code.google.com/p/exodus", &exodus());
        assert!(verify(&caps, &exodus()));
        let mut forged = exodus();
        forged
            .features
            .insert("urn:xmpp:jingle:apps:rtp:audio".into());
        assert!(!verify(&caps, &forged));
        let mut doubled = exodus();
        doubled.identities.push(doubled.identities[0].clone());
        assert!(!verify(&caps, &doubled));
        let mut nobody = exodus();
        nobody.identities.clear();
        assert!(!verify(&caps, &nobody));
        let empty = Caps::new("x", Hash::new(Algo::Sha_1, Vec::new()));
        assert!(!verify(&empty, &exodus()));
    }
}
