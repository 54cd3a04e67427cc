define i64 @"modadd"(i64 %".1", i64 %".2")
{
entry:
  %".4" = add i64 %".1", %".2"
  %".5" = srem i64 %".4", 113
  %".6" = icmp ne i64 %".5", 0
  %".7" = xor i64 %".5", 113
  %".8" = icmp slt i64 %".7", 0
  %".9" = and i1 %".6", %".8"
  %".10" = add i64 %".5", 113
  %".11" = select  i1 %".9", i64 %".10", i64 %".5"
  ret i64 %".11"
}

define i32 @"modadd_batch_i64"(i64 %".1", ptr noalias %".2", ptr noalias %".3", ptr noalias %".4")
{
entry:
  %".6" = icmp slt i64 %".1", 0
  br i1 %".6", label %"bad", label %"work"
work:
  br label %"loop"
bad:
  ret i32 -1
loop:
  %".10" = phi  i64 [0, %"work"], [%".27", %"body"]
  %".11" = icmp slt i64 %".10", %".1"
  br i1 %".11", label %"body", label %"done"
body:
  %".13" = getelementptr i64, ptr %".2", i64 %".10"
  %".14" = load i64, ptr %".13"
  %".15" = getelementptr i64, ptr %".3", i64 %".10"
  %".16" = load i64, ptr %".15"
  %".17" = add i64 %".14", %".16"
  %".18" = srem i64 %".17", 113
  %".19" = icmp ne i64 %".18", 0
  %".20" = xor i64 %".18", 113
  %".21" = icmp slt i64 %".20", 0
  %".22" = and i1 %".19", %".21"
  %".23" = add i64 %".18", 113
  %".24" = select  i1 %".22", i64 %".23", i64 %".18"
  %".25" = getelementptr i64, ptr %".4", i64 %".10"
  store i64 %".24", ptr %".25"
  %".27" = add i64 %".10", 1
  br label %"loop"
done:
  ret i32 0
}
