import ub

print("ub: next_id(41) =", ub.next_id(41))
print("ub: next_id(2**31 - 1) =", ub.next_id(2**31 - 1))
