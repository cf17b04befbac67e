-- `report`: the categories, the most listed first
SELECT category FROM papers GROUP BY 1 ORDER BY count(*) DESC, 1
