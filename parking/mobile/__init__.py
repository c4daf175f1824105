"""The driver's mobile pages (`/m`): server-rendered, Vietnamese first, phone-sized.

Like the consoles, the pages compose domain services (places, drivers, disputes, invoices); no domain imports
this package, so the pages can use all of them without an import circle.
"""
