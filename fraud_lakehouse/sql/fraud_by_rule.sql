-- Fraud by rule type: claims each rule flagged on one detection date, their amount and labelled fraud.
-- Runs unchanged in Spark SQL and Athena; ${date} is replaced by a YYYY-MM-DD date.
SELECT
    rule,
    family,
    claims,
    amount,
    labelled_fraud
FROM fraud_by_rule
WHERE detection_date = DATE '${date}'
ORDER BY claims DESC, rule
