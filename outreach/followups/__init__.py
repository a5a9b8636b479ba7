"""Follow-ups of a drive: a second letter, in the same thread, to the officials who have not
replied (followup.py), and the question "did your MEP reply?" to supporters who wrote their own
letters (mep_question.py)."""
