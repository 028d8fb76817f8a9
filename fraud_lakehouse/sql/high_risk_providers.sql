-- High risk providers: per provider, its high-risk claims of one detection date.
-- Runs unchanged in Spark SQL (fraud-lakehouse report providers) and in Athena
-- over the gold Delta tables; ${date} is replaced by a YYYY-MM-DD date.
SELECT
    provider_id,
    provider_name,
    COUNT(*) AS high_risk_claims,
    ROUND(AVG(fraud_score), 4) AS mean_fraud_score,
    ROUND(SUM(amount), 2) AS total_amount
FROM flagged_claims
WHERE detection_date = DATE '${date}'
  AND risk_level = 'high'
GROUP BY provider_id, provider_name
ORDER BY high_risk_claims DESC, mean_fraud_score DESC, provider_id
LIMIT 100
