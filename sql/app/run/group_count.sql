-- How many groups a run has stored: a run that has some was ingested before (resume).
SELECT count(*) FROM image_group WHERE run_id = :run
