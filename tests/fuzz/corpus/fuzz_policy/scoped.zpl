policy
    rule = b
        sender
            tier = organization
        kind = incident
        status = reported
        audience = org:*
        org-tier = sectoral
        org-scope = own-sector
