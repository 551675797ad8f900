-- 0003_domain_origin: where each tenant domain came from. The configuration
-- owns its own domains and replaces them on every start; domains a Partner
-- Center CSV import added stay until an import or an analyst removes them.
ALTER TABLE tenant_domains ADD COLUMN origin TEXT NOT NULL DEFAULT 'config'
    CHECK (origin IN ('config', 'import'));
