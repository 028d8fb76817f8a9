-- Duplicate claims of one detection date: exact copies and near duplicates, with the claim each repeats.
-- Runs unchanged in Spark SQL and Athena; ${date} is replaced by a YYYY-MM-DD date.
SELECT
    claim_id,
    duplicate_of,
    CASE WHEN rule_exact_duplicate THEN 'exact' ELSE 'near' END AS kind,
    provider_id,
    procedure,
    service_date,
    amount,
    fraud_score
FROM flagged_claims
WHERE detection_date = DATE '${date}'
  AND is_duplicate
ORDER BY provider_id, duplicate_of, claim_id
LIMIT 1000
