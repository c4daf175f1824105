"""Cash-register e-invoices (issue #6): numbering, XML, signing, transmission, receipts, verify."""
