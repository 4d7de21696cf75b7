#   certbus default policy: who may send what to whom.
#
#   Default deny: a message is accepted only when every term of its
#   audience is allowed by some rule below. Each rule matches a sender
#   (tier, sector, region, org), a kind and a TLP, and lists the audience
#   patterns it allows. "$own" means the sender's own sector or region;
#   org-tier and org-scope limit which members an org: term may name.
#   Receipts are always allowed back to the original publisher; they need
#   no rule. Edit, then check with: certbus-broker policy check --dir DIR
#   and load without dropping connections: certbus-broker reload --dir DIR
policy
    #   The national CERT coordinates the whole federation: it may send any
    #   kind at any TLP to anyone.
    rule = national-any
        sender
            tier = national
        kind = *
        tlp = *
        audience = *

    #   Government and federal CERTs publish advisories and alerts to
    #   everyone, and talk to any CERT or organisation about incidents.
    rule = government-federal-advisories
        sender
            tier = government, federal
        kind = advisory, alert, incident
        tlp = *
        audience = all, tier:*, sector:*, region:*, org:*

    #   A provincial CERT serves its own region: advisories, alerts and
    #   incidents to its region and the members in it, and to the national
    #   and federal tiers above it.
    rule = provincial-own-region
        sender
            tier = provincial
        kind = advisory, alert, incident
        tlp = *
        audience = region:$own, tier:national, tier:federal, org:*
        org-scope = own-region

    #   A sectoral CERT serves its own sector, the same way.
    rule = sectoral-own-sector
        sender
            tier = sectoral
        kind = advisory, alert, incident
        tlp = *
        audience = sector:$own, tier:national, org:*
        org-scope = own-sector

    #   Provincial and sectoral CERTs may always reach the national CERT and
    #   each other by name (escalation, coordination).
    rule = certs-to-certs
        sender
            tier = provincial, sectoral, government, federal
        kind = *
        tlp = *
        audience = org:*
        org-tier = national, government, federal, provincial, sectoral

    #   Any organisation reports incidents to the national tier. An
    #   organisation may open (reported) or reopen a case; the CERTs handle
    #   the rest of its life (acknowledged ... closed).
    rule = incidents-to-national
        sender
            tier = organization
        kind = incident
        tlp = *
        status = reported, reopened
        audience = tier:national, org:*
        org-tier = national

    #   Any member reports incidents to its own sectoral CERT...
    rule = incidents-to-own-sectoral
        sender
            tier = organization
        kind = incident
        tlp = *
        status = reported, reopened
        audience = org:*
        org-tier = sectoral
        org-scope = own-sector

    #   ...and to its own provincial CERT.
    rule = incidents-to-own-provincial
        sender
            tier = organization
        kind = incident
        tlp = *
        status = reported, reopened
        audience = org:*
        org-tier = provincial
        org-scope = own-region

    #   Organisations never address "all", a tier, a sector or a region:
    #   no rule allows it, so the default deny refuses it.
